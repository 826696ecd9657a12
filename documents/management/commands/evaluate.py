import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from documents.models import Chunk, Document
from documents.search import serving
from documents.search.metrics import evaluate_rankings
from documents.search.rerank import get_reranker
from documents.search.selectors import search_rankings

METHODS = [("dense", "dense only"), ("bm25", "BM25 only"), ("fused", "fused (RRF)"), ("reranked", "fused + rerank")]
RECALL_KS = (1, 5, 10)
DEPTH = 10


def read_questions(path: Path) -> list[dict]:
    """Lines of {"question": str, "doc": file name, "pages": [1-based pages holding the answer]}."""
    questions = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc}")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            question, doc, pages = str(item["question"]), str(item["doc"]), [int(p) for p in item["pages"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise CommandError(f"{path} line {number}: expected {{\"question\", \"doc\", \"pages\"}}: {exc}")
        if not question.strip() or not pages:
            raise CommandError(f"{path} line {number}: the question and its pages must not be empty")
        questions.append({"question": question, "doc": doc, "pages": pages})
    if not questions:
        raise CommandError(f"{path} holds no questions")
    return questions


class Command(BaseCommand):
    help = (
        "Measure retrieval on a question set: recall@1/5/10, MRR@10 and nDCG@10 for dense search alone, "
        "BM25 alone, their fusion, and the fusion reranked. A retrieved passage counts as relevant when it "
        "lies on one of the question's answer pages; each answer page counts once."
    )

    def add_arguments(self, parser):
        parser.add_argument("qa_file", type=Path, help='JSON lines: {"question", "doc", "pages"}')
        parser.add_argument("--json", action="store_true", help="print the figures as JSON")
        parser.add_argument("--no-rerank", action="store_true", help="skip the reranked row")

    def handle(self, *args, qa_file, json=False, no_rerank=False, **options):
        import json as json_module

        questions = read_questions(qa_file)
        index = serving.current_index()
        if index is None or index.chunk_count == 0:
            raise CommandError("the search index is empty: ingest documents first (python manage.py ingest ...)")

        names = {q["doc"] for q in questions}
        documents = {}
        for document_id, name in Document.objects.filter(
            original_filename__in=names, status=Document.Status.READY
        ).values_list("pk", "original_filename"):
            documents.setdefault(name, []).append(document_id)
        missing = sorted(names - set(documents))
        if missing:
            raise CommandError(f"not in the corpus as ready documents: {', '.join(missing)}")

        rerank = not no_rerank
        reranker_error = ""
        if rerank:
            state = get_reranker()
            if state.reranker is None:
                rerank, reranker_error = False, state.error

        runs = {method: [] for method, _ in METHODS}
        for item in questions:
            rankings = search_rankings(query=item["question"], depth=DEPTH, rerank=rerank)
            relevant = {(document_id, page) for document_id in documents[item["doc"]] for page in item["pages"]}
            for method, _ in METHODS:
                if rankings.get(method) is not None:
                    runs[method].append((rankings[method], relevant))
        # chunk id -> (document id, page), for every chunk any ranking returned
        ids = {chunk_id for method in runs.values() for ranked, _ in method for chunk_id in ranked}
        where = {pk: (document_id, page) for pk, document_id, page in
                 Chunk.objects.filter(pk__in=ids).values_list("pk", "document_id", "page")}
        figures = {}
        for method, _ in METHODS:
            if not runs[method]:
                continue
            figures[method] = evaluate_rankings(
                [([where.get(pk) for pk in ranked], relevant) for ranked, relevant in runs[method]],
                recall_ks=RECALL_KS,
                k=DEPTH,
            )
        report = {
            "questions": len(questions),
            "index_version": index.version,
            "chunk_count": index.chunk_count,
            "embedding_model": index.embedding_model,
            "reranker": get_reranker().model if not no_rerank else "",
            "reranker_error": reranker_error,
            "metrics": figures,
        }
        if json:
            self.stdout.write(json_module.dumps(report, indent=2))
            return
        columns = [f"recall@{k}" for k in RECALL_KS] + [f"mrr@{DEPTH}", f"ndcg@{DEPTH}"]
        self.stdout.write(
            f"{len(questions)} questions; index v{index.version}, {index.chunk_count} chunks, {index.embedding_model}"
        )
        self.stdout.write(f"{'method':<16}" + "".join(f"{c:>11}" for c in columns))
        for method, label in METHODS:
            if method in figures:
                self.stdout.write(f"{label:<16}" + "".join(f"{figures[method][c]:>11.3f}" for c in columns))
            elif method == "reranked":
                why = reranker_error or "skipped (--no-rerank)"
                self.stdout.write(f"{label:<16}  n/a: {why}")
