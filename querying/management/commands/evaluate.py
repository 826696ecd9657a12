"""manage.py evaluate: retrieval and answer quality on a question set (eval/questions.jsonl), and
follow-ups in conversations (eval/conversations.jsonl): recall of the last turn searched as asked,
rewritten by the heuristic, and rewritten by the configured language model.

It lives in `querying` because answering is querying's: `documents` must never import it.
"""

import json
import math
import re
import statistics
import time
from collections import defaultdict
from pathlib import Path

from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from documents.models import Chunk, Document
from documents.readable import collection_ids_readable
from documents.search.backends import search_backend
from documents.search.metrics import evaluate_rankings, reciprocal_rank_at
from documents.search.rerank import get_reranker
from documents.search.selectors import chunk_search, search_rankings
from querying.conversations import SearchQuery, answer_document_ids, query_rewrite
from querying.llm import get_llm
from querying.llm.base import LLMError, VendorProvider
from querying.management.results import Table, results_write
from querying.prompts import is_not_found as is_refusal
from querying.rewrite import Turn, is_follow_up, rewrite_heuristic
from querying.services import answer_collect, answer_prepare, answer_warm_up

METHODS = [("dense", "dense only"), ("bm25", "BM25 only"), ("fused", "fused"), ("reranked", "fused + rerank")]
RECALL_KS = (1, 5, 10)
DEPTH = 10
ANSWER_TOP_K = 5
UNANSWERABLE = "unanswerable"
DEFAULT_KIND = "paraphrase"
FOLLOW_UP_KIND = "follow-up"
# How the last turn of a conversation is searched: as asked, rewritten by the heuristic, by the model.
REWRITES = [("off", "as asked"), ("heuristic", "heuristic rewrite"), ("auto", "model rewrite")]
# An experiment beside them: the heuristic's query, searched only in the documents the previous
# answer drew on (when the question is a follow-up).
IN_DOCUMENTS = ("heuristic_documents", "heuristic, previous documents only")
SPLITS = ("dev", "heldout", "all")


def read_questions(path: Path) -> list[dict]:
    """Lines of {"question", "doc" (file name), "pages" (1-based, holding the answer)} or, for a Word,
    HTML, Markdown or text document, "section" (heading paths holding the answer: a passage counts
    when its section is one of them or lies under one), and optionally
    "id", "kind" (paraphrase, identifier, unanswerable; paraphrase when absent), "answer_regex"
    (what a correct answer holds, case-insensitive) and "split" (dev when absent). An unanswerable
    question has no pages; every other needs some.

    A conversation is a line with "turns" (two or more questions, asked in order) in place of
    "question": its last turn is the follow-up that "doc" and "pages" answer (kind follow-up when
    absent). Each item has "turns" ([] for a single question) and "question" (the last turn)."""
    questions = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc}")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path} line {number}"
        try:
            item = json.loads(line)
            turns = [str(turn) for turn in item["turns"]] if "turns" in item else []
            question = turns[-1] if turns else str(item["question"])
            doc = str(item["doc"])
            sections = [str(label) for label in item["section"]] if "section" in item else []
            pages = [] if "section" in item else [int(p) for p in item["pages"]]
        except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
            raise CommandError(f"{where}: expected {{\"question\" or \"turns\", \"doc\", \"pages\" or \"section\"}}: {exc}")
        if "turns" in item and (len(turns) < 2 or not all(turn.strip() for turn in turns)):
            raise CommandError(f"{where}: a conversation has two or more turns, none empty")
        kind = str(item.get("kind") or (FOLLOW_UP_KIND if turns else DEFAULT_KIND))
        if turns and kind == UNANSWERABLE:
            raise CommandError(f"{where}: a conversation's last turn must be answerable")
        if not question.strip() or (not pages and not sections and kind != UNANSWERABLE):
            raise CommandError(f"{where}: the question and its pages (or sections) must not be empty")
        if (pages or sections) and kind == UNANSWERABLE:
            raise CommandError(f"{where}: an unanswerable question lists no pages")
        answer_regex = item.get("answer_regex") or None
        if answer_regex is not None:
            try:
                answer_regex = re.compile(str(answer_regex), re.IGNORECASE)
            except re.error as exc:
                raise CommandError(f"{where}: answer_regex is not a regular expression: {exc}")
        split = str(item.get("split") or "dev")
        if split not in SPLITS[:2]:
            raise CommandError(f"{where}: split must be dev or heldout, not {split!r}")
        questions.append({
            "id": str(item.get("id") or number), "question": question, "doc": doc, "pages": pages, "sections": sections,
            "kind": kind, "answer_regex": answer_regex, "split": split, "turns": turns,
        })
    if not questions:
        raise CommandError(f"{path} holds no questions")
    return questions


def _place(found: tuple | None, sections: list[str]) -> tuple | None:
    """Where a retrieved passage is, as a question's relevant places are written: (document, page)
    for a question labelled by pages; for one labelled by sections, (document, the label its
    section is or lies under), else (document, its location) so that each place counts once."""
    if found is None:
        return None
    document_id, page, section = found
    if not sections:
        return (document_id, page)
    for label in sections:
        if section == label or section.startswith(label + " › "):
            return (document_id, label)
    return (document_id, f"location {page}")


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered), math.ceil(share * len(ordered))) - 1)]


class Command(BaseCommand):
    help = (
        "Measure a question set: recall@1/5/10, MRR@10 and nDCG@10 for dense search alone, BM25 alone, "
        "their fusion, and the fusion reranked, overall and per kind of question; with --answers, the share "
        "of answers that hold the fact and of unanswerable questions refused. A retrieved passage counts as "
        "relevant when it lies on one of the question's answer pages; each answer page counts once. "
        "Questions whose document is not in the corpus are reported as skipped."
    )

    def add_arguments(self, parser):
        parser.add_argument("qa_file", type=Path, help='JSON lines: {"question", "doc", "pages", "kind"?, "answer_regex"?, "split"?}')
        parser.add_argument("--split", choices=SPLITS, default="all", help="which questions (default all)")
        parser.add_argument("--answers", action="store_true", help="also answer each question with the configured answer mode")
        parser.add_argument("--json", action="store_true", help="print the figures as JSON (with a line per question)")
        parser.add_argument("--no-rerank", action="store_true", help="skip the reranked row")
        parser.add_argument(
            "--rewrites", default="off,heuristic,auto",
            help="how conversations' last turns are searched, comma-separated: off (as asked), heuristic, auto "
                 "(the model, when the answer mode is one); default all",
        )
        parser.add_argument(
            "--after-previous", action="store_true",
            help="also search each single question as a follow-up of the one before it in the file (a turn on "
                 "another subject), rewritten by the heuristic: what rewriting costs a question that stands alone",
        )
        parser.add_argument(
            "--as", dest="as_user", metavar="USER",
            help="search and answer as the user named USER would: within the collections USER may read; a question "
                 "whose document USER may not read is skipped as one whose document is missing",
        )
        parser.add_argument(
            "--within-collection", action="store_true",
            help="search each question within its document's collection only, as an asker who reads that "
                 "collection alone (with --as, only where USER may read it)",
        )
        parser.add_argument(
            "--output", type=Path, metavar="DIR",
            help="also write the report to DIR as evaluate-<file>-<split>-<date>.json and .md, with the date, "
                 "machine and commit (docs/results/)",
        )

    def handle(self, *args, qa_file, split="all", answers=False, no_rerank=False, after_previous=False,
               rewrites="off,heuristic,auto", output=None, as_user=None, within_collection=False, **options):
        questions = [q for q in read_questions(qa_file) if split == "all" or q["split"] == split]
        if not questions:
            raise CommandError(f"{qa_file} holds no {split} questions")
        index = search_backend().searcher()
        if index is None or index.empty:
            raise CommandError("the search index is empty: ingest documents first (python manage.py ingest ...)")

        self.readable, self.within_collection = self._readable(as_user), within_collection
        names = {q["doc"] for q in questions}
        documents, self.collections_of = self._documents(names)
        missing = sorted(names - set(documents))
        skipped = [{"id": q["id"], "doc": q["doc"]} for q in questions if q["doc"] not in documents]
        questions = [q for q in questions if q["doc"] in documents]
        if not questions:
            raise CommandError(f"not in the corpus as ready documents: {', '.join(missing)}")

        rerank, reranker_error = self._reranking(not no_rerank)

        answer_warm_up()  # as a web process starts: latencies are those a user would see
        conversations = [q for q in questions if q["turns"]]
        questions = [q for q in questions if not q["turns"]]
        wanted = {name.strip() for name in rewrites.split(",")}
        if not wanted or wanted - {v for v, _ in REWRITES}:
            raise CommandError(f"--rewrites takes off, heuristic and auto, not {rewrites!r}")
        self.answer_turns = answers  # --answers: the conversations' last turns are answered too
        conversation_report = self._conversations(conversations, documents, rerank, wanted) if conversations else None
        if not questions:
            report = {"questions": len(conversations) + len(skipped), "split": split, "skipped": skipped,
                      "missing_documents": missing, "index_version": index.version, "chunk_count": index.chunk_count,
                      "embedding_model": index.embedding_model, "reranker_error": reranker_error,
                      "conversations": conversation_report}
            if output is not None:
                self._write(output, f"evaluate-{qa_file.stem}-{split}", report)
            if options.get("json"):
                self.stdout.write(json.dumps(report, indent=2, ensure_ascii=False))
            else:
                self._print_conversations(report)
            return
        rows = self._retrieve(questions, documents, rerank)
        kinds = sorted({q["kind"] for q, _ in rows}, key=lambda k: (k == UNANSWERABLE, k))
        figures = self._figures(rows)
        report = {
            "questions": len(questions) + len(skipped),
            "split": split,
            "as_user": as_user or "",
            "within_collection": within_collection,
            "retrieval_questions": len(rows),
            "skipped": skipped,
            "missing_documents": missing,
            "index_version": index.version,
            "chunk_count": index.chunk_count,
            "embedding_model": index.embedding_model,
            "reranker": get_reranker().model if not no_rerank else "",
            "reranker_error": reranker_error,
            "metrics": figures,
            **self._grouped(rows, kinds),
        }
        per_question = {q["id"]: {"id": q["id"], "kind": q["kind"], "doc": q["doc"], "first_hit": {}} for q in questions}
        for question, ranks in rows:
            per_question[question["id"]]["first_hit"] = ranks
        if answers:
            report["answers"] = self._answers(questions, per_question)
        report["per_question"] = list(per_question.values())
        if after_previous:
            report["after_previous"] = self._after_previous([q for q, _ in rows], documents, rerank)
        report["conversations"] = conversation_report
        if output is not None:
            self._write(output, f"evaluate-{qa_file.stem}-{split}", report)

        if options.get("json"):
            self.stdout.write(json.dumps(report, indent=2, ensure_ascii=False))
            return
        self._print(report, kinds, no_rerank)
        self._print_conversations(report)

    def _write(self, directory: Path, name: str, report: dict) -> None:
        """The report as result files (querying.management.results); their names go to stderr, so
        that stdout stays what it is without --output."""
        paths = results_write(directory, name, report, report_tables(report))
        self.stderr.write("written: " + ", ".join(str(path) for path in paths))

    @staticmethod
    def _readable(as_user: str | None) -> list[int] | None:
        """The collections the user named as_user may read (documents.readable), read once: None
        (no limit) without --as."""
        if as_user is None:
            return None
        user = get_user_model().objects.filter(username=as_user).first()
        if user is None:
            raise CommandError(f"no user named {as_user!r}")
        return collection_ids_readable(user=user)

    def _documents(self, names: set[str]) -> tuple[dict[str, list[int]], dict[str, set[int]]]:
        """The ready documents of each file name the questions cite, among those --as may read:
        their ids, and the collections they are in."""
        documents, collections = defaultdict(list), defaultdict(set)
        ready = Document.objects.filter(original_filename__in=names, status=Document.Status.READY)
        if self.readable is not None:
            ready = ready.filter(collection_id__in=self.readable)
        for document_id, name, collection_id in ready.values_list("pk", "original_filename", "collection_id"):
            documents[name].append(document_id)
            collections[name].add(collection_id)
        return documents, collections

    def _scope(self, item: dict) -> list[int] | None:
        """The collections a question is searched within: those of --as, narrowed to its document's
        collection with --within-collection; None for no limit."""
        if not self.within_collection:
            return self.readable
        return sorted(self.collections_of[item["doc"]])

    def _ranked_pages(self, query: str, rerank: bool, item: dict, document_ids: list[int] | None = None) -> list:
        """(document id, page) of the top DEPTH passages as an answer gets them (chunk_search)."""
        found = chunk_search(query=query, top_k=DEPTH, document_ids=document_ids, rerank=rerank,
                             collection_ids=self._scope(item))
        return [(result.document_id, result.page) for result in found.results]

    def _conversations(self, items, documents, rerank, wanted) -> dict:
        """Each conversation's earlier turns answered in order by the configured answer mode (their
        search rewritten as the variant says), then its last turn searched as asked, rewritten by
        the heuristic, and rewritten by the model (only when the answer mode is a language model).
        Figures of the final ranking (reranked, or fused without a reranker) of the last turn."""
        provider = get_llm()
        variants = [(v, label) for v, label in REWRITES
                    if v in wanted and (v != "auto" or isinstance(provider, VendorProvider))]
        if "heuristic" in wanted:
            variants.insert([v for v, _ in variants].index("heuristic") + 1, IN_DOCUMENTS)
        runs = {v: [] for v, _ in variants}
        per_item = []
        for item in items:
            relevant = {(d, page) for d in documents[item["doc"]] for page in item["pages"]}
            row = {"id": item["id"], "kind": item["kind"], "doc": item["doc"], "turns": item["turns"]}
            for variant, _ in variants:
                if variant == IN_DOCUMENTS[0]:
                    continue  # measured with the heuristic, from the same earlier turns
                earlier: list[Turn] = []
                if variant != "off":  # searched as asked, the last turn does not depend on the earlier ones
                    for question in item["turns"][:-1]:
                        plan = answer_prepare(question=question, top_k=ANSWER_TOP_K, turns=earlier, rewrite=variant,
                                              collection_ids=self._scope(item))
                        answer = async_to_sync(answer_collect)(plan=plan)
                        earlier.append(Turn(question=question, answer=answer.answer, search_query=plan.search_query,
                                            document_ids=answer_document_ids(answer.sources)))
                        previous = answer
                rewritten = SearchQuery(item["question"], "") if variant == "off" else query_rewrite(
                    question=item["question"], turns=earlier, provider=provider, use_model=variant == "auto")
                query = rewritten.text
                ranked = self._ranked_pages(query, rerank, item)
                runs[variant].append((item["kind"], ranked, relevant))
                rr = reciprocal_rank_at(ranked, relevant, DEPTH)
                row[variant] = {"search_query": query, "rewritten_by": rewritten.rewritten_by,
                                "first_hit": round(1 / rr) if rr else None}
                if variant == "heuristic" and self.answer_turns:
                    row["answer"] = self._last_answer(item, earlier, previous, relevant)
                if variant == "heuristic":
                    within = earlier[-1].document_ids if is_follow_up(item["question"]) else []
                    ranked = self._ranked_pages(query, rerank, item, within) if within else ranked
                    runs[IN_DOCUMENTS[0]].append((item["kind"], ranked, relevant))
                    rr = reciprocal_rank_at(ranked, relevant, DEPTH)
                    row[IN_DOCUMENTS[0]] = {"documents": within, "first_hit": round(1 / rr) if rr else None}
            per_item.append(row)
        kinds = sorted({item["kind"] for item in items})
        return {
            "items": len(items),
            "mode": provider.name,
            # how often the model's own rewrite was used (the rest fell back to the heuristic)
            "model_rewrites": sum(row.get("auto", {}).get("rewritten_by") == provider.name for row in per_item),
            "variants": dict(variants),
            "metrics": {v: evaluate_rankings([(r, rel) for _, r, rel in runs[v]], recall_ks=RECALL_KS, k=DEPTH) for v, _ in variants},
            "metrics_by_kind": {
                kind: {"items": sum(item["kind"] == kind for item in items),
                       **{v: evaluate_rankings([(r, rel) for k, r, rel in runs[v] if k == kind], recall_ks=RECALL_KS, k=DEPTH)
                          for v, _ in variants}}
                for kind in kinds
            },
            "answers": self._last_answers_figures([row["answer"] for row in per_item if "answer" in row]),
            "per_item": per_item,
        }

    def _last_answer(self, item, earlier: list[Turn], previous, relevant: set) -> dict:
        """The last turn answered as the conversation's asker would get it (the heuristic rewrite):
        whether it holds the fact, and whether it repeats the answer before it although the page
        it should quote is none the previous answer cited."""
        plan = answer_prepare(question=item["question"], top_k=ANSWER_TOP_K, turns=earlier, rewrite="heuristic",
                              collection_ids=self._scope(item))
        answer = async_to_sync(answer_collect)(plan=plan)
        cited_before = {(s["document_id"], s["page"]) for s in previous.sources if s.get("cited")}
        regex = item["answer_regex"]
        return {"answer": answer.answer, "holds_fact": bool(regex and regex.search(answer.answer)) and not is_refusal(answer.answer),
                "repeats_previous": answer.answer == previous.answer, "page_differs": not (cited_before & relevant)}

    @staticmethod
    def _last_answers_figures(rows: list[dict]) -> dict:
        """How the follow-ups were answered: facts held, and repeats of the answer before."""
        differs = [row for row in rows if row["page_differs"]]
        return {"answered": len(rows), "hold_fact": sum(row["holds_fact"] for row in rows),
                "repeat_previous": sum(row["repeats_previous"] for row in rows), "page_differs": len(differs),
                "repeat_where_page_differs": sum(row["repeats_previous"] for row in differs)} if rows else {}

    def _after_previous(self, rows, documents, rerank) -> dict:
        """Standalone questions, each searched as a follow-up of the question before it in the file
        (the heuristic rewrite): beside their own figures, what the rewrite costs them."""
        rewritten_runs, plain_runs, rewritten = [], [], 0
        for previous, item in zip([None, *rows], rows):
            turns = [Turn(question=previous["question"])] if previous else []
            query = rewrite_heuristic(item["question"], turns)
            rewritten += query != item["question"]
            plain_runs.append((self._ranked_pages(item["question"], rerank, item), item["relevant"]))
            ranked = self._ranked_pages(query, rerank, item) if query != item["question"] else plain_runs[-1][0]
            rewritten_runs.append((ranked, item["relevant"]))
        return {
            "questions": len(rows),
            "rewritten": rewritten,
            "as_asked": evaluate_rankings(plain_runs, recall_ks=RECALL_KS, k=DEPTH),
            "after_previous": evaluate_rankings(rewritten_runs, recall_ks=RECALL_KS, k=DEPTH),
        }

    def _print_conversations(self, report):
        write = self.stdout.write
        standalone = report.get("after_previous")
        if standalone:
            write(f"\nsingle questions asked after the one before them ({standalone['rewritten']} of "
                  f"{standalone['questions']} rewritten by the heuristic): recall@5 "
                  f"{standalone['as_asked']['recall@5']:.3f} as asked, {standalone['after_previous']['recall@5']:.3f} rewritten")
        conversations = report.get("conversations")
        if not conversations:
            return
        columns = [f"recall@{k}" for k in RECALL_KS] + [f"mrr@{DEPTH}"]
        write(f"\n{conversations['items']} conversations, last turn (answer mode {conversations['mode']}):")
        if "auto" in conversations["variants"]:
            write(f"  the model's own rewrite used for {conversations['model_rewrites']}, the heuristic's for the rest")
        for scope, figures in [("all", conversations["metrics"]), *[
                (f"kind {kind} ({row['items']})", row) for kind, row in conversations["metrics_by_kind"].items()]]:
            write(f"  {scope}")
            write(f"  {'search':<20}" + "".join(f"{c:>11}" for c in columns))
            for variant, label in conversations["variants"].items():
                write(f"  {label:<20}" + "".join(f"{figures[variant][c]:>11.3f}" for c in columns))
        answers = conversations.get("answers")
        if answers:
            write(f"  last turns answered (heuristic rewrite): {answers['hold_fact']}/{answers['answered']} hold the fact; "
                  f"{answers['repeat_previous']} repeat the answer before, {answers['repeat_where_page_differs']} of the "
                  f"{answers['page_differs']} whose page is none the answer before cited")

    def _retrieve(self, questions, documents, rerank):
        """(question, {method: rank of the first answer page or section in the top DEPTH, or
        None}) for each answerable question; the rankings themselves are kept on the question for
        the metrics."""
        rows = []
        for item in questions:
            if item["kind"] == UNANSWERABLE:
                continue
            rankings = search_rankings(query=item["question"], depth=DEPTH, rerank=rerank, collection_ids=self._scope(item))
            places = item["sections"] or item["pages"]
            item["relevant"] = {(d, place) for d in documents[item["doc"]] for place in places}
            item["rankings"] = {m: rankings[m] for m, _ in METHODS if rankings.get(m) is not None}
            rows.append(item)
        # chunk id -> (document id, page, section), for every chunk any ranking returned
        ids = {pk for item in rows for ranked in item["rankings"].values() for pk in ranked}
        where = {pk: (document_id, page, section) for pk, document_id, page, section in
                 Chunk.objects.filter(pk__in=ids).values_list("pk", "document_id", "page", "section")}
        out = []
        for item in rows:
            item["rankings"] = {m: [_place(where.get(pk), item["sections"]) for pk in ranked]
                                for m, ranked in item["rankings"].items()}
            ranks = {}
            for method, ranked in item["rankings"].items():
                rr = reciprocal_rank_at(ranked, item["relevant"], DEPTH)
                ranks[method] = round(1 / rr) if rr else None
            out.append((item, ranks))
        return out

    @staticmethod
    def _reranking(wanted: bool) -> tuple[bool, str]:
        """Whether the rankings are reranked, and why not when they were wanted but cannot be."""
        state = get_reranker() if wanted else None
        if state is not None and state.reranker is None:
            return False, state.error
        return wanted, ""

    @classmethod
    def _grouped(cls, rows, kinds) -> dict:
        """Figures per kind of question, and for questions cited by page (PDFs) and by section (the
        other formats) apart."""
        groups = {"page": [r for r in rows if not r[0]["sections"]], "section": [r for r in rows if r[0]["sections"]]}
        return {"metrics_by_kind": {kind: cls._figures([r for r in rows if r[0]["kind"] == kind]) for kind in kinds},
                "metrics_by_location": {located: cls._figures(chosen) for located, chosen in groups.items() if chosen},
                "questions_by_location": {located: len(chosen) for located, chosen in groups.items()}}

    @staticmethod
    def _figures(rows) -> dict:
        figures = {}
        for method, _ in METHODS:
            runs = [(q["rankings"][method], q["relevant"]) for q, _ in rows if method in q["rankings"]]
            if runs:
                figures[method] = evaluate_rankings(runs, recall_ks=RECALL_KS, k=DEPTH)
        return figures

    def _answers(self, questions, per_question) -> dict:
        """Answer every question as POST /query would (answer_prepare + answer_collect)."""
        latencies, mode = [], ""
        tally = defaultdict(lambda: {"questions": 0, "hits": 0, "refused": 0, "errors": 0, "no_regex": 0})
        for item in questions:
            started = time.perf_counter()
            try:
                plan = answer_prepare(question=item["question"], top_k=ANSWER_TOP_K, collection_ids=self._scope(item))
            except LLMError as exc:
                raise CommandError(f"the configured answer mode cannot answer: {exc.message}")
            answer = async_to_sync(answer_collect)(plan=plan)
            latencies.append((time.perf_counter() - started) * 1000)
            mode = answer.mode
            refused = is_refusal(answer.answer)
            regex = item["answer_regex"]
            hit = bool(regex and regex.search(answer.answer)) and not refused
            for kind in (item["kind"], "all answerable" if item["kind"] != UNANSWERABLE else None):
                if kind is None:
                    continue
                counts = tally[kind]
                counts["questions"] += 1
                counts["hits"] += hit
                counts["refused"] += refused
                counts["errors"] += answer.error is not None
                counts["no_regex"] += regex is None and item["kind"] != UNANSWERABLE
            per_question[item["id"]].update(
                answer=answer.answer, answer_ok=refused if item["kind"] == UNANSWERABLE else hit,
                refused=refused, error=answer.error["message"] if answer.error else "",
            )
        by_kind = {}
        for kind, counts in tally.items():
            if kind == UNANSWERABLE:
                share = {"refused_share": counts["refused"] / counts["questions"]}
            else:
                judged = counts["questions"] - counts["no_regex"]
                share = {"fact_share": counts["hits"] / judged if judged else 0.0,
                         "refused_share": counts["refused"] / counts["questions"]}
            by_kind[kind] = {**counts, **share}
        return {
            "mode": mode,
            "top_k": ANSWER_TOP_K,
            "answerable_fact_share": by_kind.get("all answerable", {}).get("fact_share", 0.0),
            "unanswerable_refused_share": by_kind.get(UNANSWERABLE, {}).get("refused_share", 0.0),
            "by_kind": by_kind,
            "latency_ms": {"p50": round(percentile(latencies, 0.5), 1), "p95": round(percentile(latencies, 0.95), 1),
                           "mean": round(statistics.fmean(latencies), 1) if latencies else 0.0},
        }

    def _print(self, report, kinds, no_rerank):
        columns = [f"recall@{k}" for k in RECALL_KS] + [f"mrr@{DEPTH}", f"ndcg@{DEPTH}"]
        write = self.stdout.write
        write(
            f"{report['questions']} questions; index v{report['index_version']}, {report['chunk_count']} chunks, "
            f"{report['embedding_model']}"
        )
        if report["as_user"] or report["within_collection"]:
            write("searched " + " and ".join(filter(None, [
                f"as {report['as_user']}" if report["as_user"] else "",
                "within each question's document's collection" if report["within_collection"] else ""])))

        def table(figures, why_missing=True):
            write(f"{'method':<16}" + "".join(f"{c:>11}" for c in columns))
            for method, label in METHODS:
                if method in figures:
                    write(f"{label:<16}" + "".join(f"{figures[method][c]:>11.3f}" for c in columns))
                elif method == "reranked" and why_missing:  # said once, under the overall table
                    write(f"{label:<16}  n/a: {report['reranker_error'] or 'skipped (--no-rerank)'}")

        table(report["metrics"])
        counts = defaultdict(int)
        for row in report["per_question"]:
            counts[row["kind"]] += 1
        answerable = [k for k in kinds if k != UNANSWERABLE]
        if len(answerable) > 1:
            for kind in answerable:
                write(f"\nkind {kind} ({counts[kind]} questions)")
                table(report["metrics_by_kind"][kind], why_missing=False)
        if len(report.get("metrics_by_location", {})) > 1:
            for located, figures in report["metrics_by_location"].items():
                write(f"\ncited by {located} ({report['questions_by_location'][located]} questions)")
                table(figures, why_missing=False)
        if counts.get(UNANSWERABLE):
            write(f"\n{counts[UNANSWERABLE]} unanswerable questions: not in the retrieval figures")
        if report["skipped"]:
            write(
                f"\nskipped {len(report['skipped'])} questions, their document is not in the corpus"
                + (f" or not readable as {report['as_user']}: " if report["as_user"] else ": ")
                + ", ".join(report["missing_documents"])
            )
        answers = report.get("answers")
        if answers:
            write(f"\nanswers ({answers['mode']}, top_k={answers['top_k']}): "
                  f"latency p50 {answers['latency_ms']['p50']:.0f} ms, p95 {answers['latency_ms']['p95']:.0f} ms")
            for kind, row in sorted(answers["by_kind"].items(), key=lambda kv: (kv[0] == UNANSWERABLE, kv[0])):
                if kind == UNANSWERABLE:
                    write(f"  {kind:<16} {row['refused_share']:.3f} refused ({row['refused']}/{row['questions']})")
                else:
                    write(f"  {kind:<16} {row['fact_share']:.3f} hold the fact ({row['hits']}/{row['questions'] - row['no_regex']}),"
                          f" {row['refused_share']:.3f} refused ({row['refused']}/{row['questions']})")


def report_tables(report: dict) -> list[Table]:
    """The Markdown tables of a result file: retrieval per method, overall and per kind; answers
    per kind; conversations' last turns per way of searching them."""
    tables = []
    columns = [f"recall@{k}" for k in RECALL_KS] + [f"mrr@{DEPTH}", f"ndcg@{DEPTH}"]
    if report.get("metrics"):
        scopes = [("all", report.get("retrieval_questions"), report["metrics"])]
        counts = defaultdict(int)
        for row in report.get("per_question", []):
            counts[row["kind"]] += 1
        scopes += [(kind, counts[kind], figures) for kind, figures in report.get("metrics_by_kind", {}).items()
                   if kind != UNANSWERABLE]
        scopes += [(f"cited by {located}", report["questions_by_location"][located], figures)
                   for located, figures in report.get("metrics_by_location", {}).items()]
        rows = [[scope, n, label, *(figures[method][c] for c in columns)]
                for scope, n, figures in scopes for method, label in METHODS if method in figures]
        tables.append(Table(
            f"Retrieval, {report['split']} split ({report['chunk_count']} chunks, {report['embedding_model']})",
            ["questions", "n", "method", *columns], rows,
        ))
    answers = report.get("answers")
    if answers:
        rows = []
        for kind, row in sorted(answers["by_kind"].items(), key=lambda kv: (kv[0] == UNANSWERABLE, kv[0])):
            judged = row["questions"] - row["no_regex"]
            fact = "" if kind == UNANSWERABLE else f"{row['fact_share']:.3f} ({row['hits']}/{judged})"
            rows.append([kind, row["questions"], fact, f"{row['refused_share']:.3f} ({row['refused']}/{row['questions']})",
                         row["errors"]])
        latency = answers["latency_ms"]
        tables.append(Table(
            f"Answers ({answers['mode']}, top_k {answers['top_k']}; latency p50 {latency['p50']:.0f} ms, "
            f"p95 {latency['p95']:.0f} ms)",
            ["questions", "n", "hold the fact", "refused", "errors"], rows,
        ))
    conversations = report.get("conversations")
    if conversations:
        columns = [f"recall@{k}" for k in RECALL_KS] + [f"mrr@{DEPTH}"]
        scopes = [("all", conversations["items"], conversations["metrics"])] + [
            (kind, row["items"], row) for kind, row in conversations["metrics_by_kind"].items()]
        rows = [[scope, n, label, *(figures[variant][c] for c in columns)]
                for scope, n, figures in scopes for variant, label in conversations["variants"].items()]
        tables.append(Table(
            f"Conversations: the last turn ({conversations['mode']})", ["conversations", "n", "searched", *columns], rows,
        ))
    return tables
