"""The evaluate command and the metrics behind it, on examples small enough to check by hand."""

import io
import json
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command

from documents.models import Collection, Document
from documents.search.metrics import (
    evaluate_rankings,
    ndcg_at,
    recall_at,
    reciprocal_rank_at,
)
from documents.search.services import index_rebuild_request
from querying.management.commands.evaluate import percentile
from querying.prompts import is_not_found as is_refusal
from querying.prompts import NOT_FOUND
from tests.search_corpus import add_document, add_manuals, minilm_cross_encoder_dir, search_options


def test_metrics_on_a_hand_checked_example():
    # question 1: answer pages {A, B}; retrieved C, A, A, B  -> first hit at 2, A repeated counts once
    # question 2: answer page {Z}; retrieved X, Y           -> no hit
    runs = [(["C", "A", "A", "B"], {"A", "B"}), (["X", "Y"], {"Z"})]

    assert recall_at(["C", "A", "A", "B"], {"A", "B"}, 1) == 0.0
    assert recall_at(["C", "A", "A", "B"], {"A", "B"}, 2) == 1.0
    assert reciprocal_rank_at(["C", "A", "A", "B"], {"A", "B"}, 10) == 0.5
    # DCG = 1/log2(3) + 1/log2(5); ideal = 1/log2(2) + 1/log2(3)
    dcg = 1 / 1.584962500721156 + 1 / 2.321928094887362
    assert ndcg_at(["C", "A", "A", "B"], {"A", "B"}, 10) == pytest.approx(dcg / (1 + 1 / 1.584962500721156))
    assert ndcg_at(["A", "B"], {"A", "B"}, 10) == pytest.approx(1.0)
    assert reciprocal_rank_at(["C", "A"], {"A"}, 1) == 0.0  # beyond the cut-off counts as missed

    figures = evaluate_rankings(runs, recall_ks=(1, 5, 10), k=10)
    assert figures["recall@1"] == 0.0 and figures["recall@5"] == 0.5 and figures["recall@10"] == 0.5
    assert figures["mrr@10"] == pytest.approx(0.25)
    assert figures["ndcg@10"] == pytest.approx(dcg / (1 + 1 / 1.584962500721156) / 2)


@pytest.fixture
def qa_file(tmp_path):
    def write(lines):
        path = tmp_path / "qa.jsonl"
        path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
        return path

    return write


@pytest.mark.django_db
def test_evaluate_prints_each_method_on_a_tiny_corpus(settings, qa_file):
    search_options(settings, version_check_seconds=0)
    settings.RAGSITE_RERANKER = {
        "BACKEND": "documents.search.rerank.CrossEncoderReranker",
        "OPTIONS": {"model": str(minilm_cross_encoder_dir()), "max_length": 256},
    }
    add_manuals()
    # a second document whose page 2 repeats nothing: the keyword question below has one answer
    add_document("Printer Manual", ["Replace the toner cartridge when the light blinks.", "Duplex printing."])
    index_rebuild_request(in_process=True)
    path = qa_file(
        [
            {"question": "-dPDFX", "doc": "ghostscript-notes.pdf", "pages": [1]},
            {"question": "read.table header argument", "doc": "r-data-import.pdf", "pages": [1]},
            {"question": "toner cartridge", "doc": "printer-manual.pdf", "pages": [1]},
            # the answer page is not in the corpus at all: a miss for every method
            {"question": "tomatoes sunlight", "doc": "garden-guide.pdf", "pages": [9]},
        ]
    )

    out = io.StringIO()
    call_command("evaluate", str(path), "--json", stdout=out)
    report = json.loads(out.getvalue())

    assert report["questions"] == 4 and report["chunk_count"] == 8 and report["reranker_error"] == ""
    assert set(report["metrics"]) == {"dense", "bm25", "fused", "reranked"}
    bm25 = report["metrics"]["bm25"]
    # three questions whose only keyword match is the answer page, one unanswerable
    assert bm25["recall@1"] == 0.75 and bm25["recall@10"] == 0.75 and bm25["mrr@10"] == 0.75
    assert bm25["ndcg@10"] == pytest.approx(0.75)
    for figures in report["metrics"].values():
        assert set(figures) == {"recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10"}
        assert figures["recall@10"] <= 0.75  # the fourth question can never be answered
        assert figures["recall@1"] <= figures["recall@5"] <= figures["recall@10"]
    # with only 8 chunks, every method's top 10 holds every chunk
    assert report["metrics"]["dense"]["recall@10"] == 0.75 and report["metrics"]["reranked"]["recall@10"] == 0.75

    out = io.StringIO()
    call_command("evaluate", str(path), "--no-rerank", stdout=out)
    table = out.getvalue().splitlines()
    assert table[1].split() == ["method", "recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10"]
    assert table[3].startswith("BM25 only") and table[3].split()[2:] == ["0.750"] * 5
    assert table[5].startswith("fused + rerank") and "n/a" in table[5]


@pytest.mark.django_db
def test_evaluate_refuses_unknown_documents_and_bad_lines(settings, qa_file, tmp_path):
    search_options(settings, version_check_seconds=0)
    add_manuals()
    index_rebuild_request(in_process=True)

    with pytest.raises(CommandError, match="nowhere.pdf"):
        call_command("evaluate", str(qa_file([{"question": "q", "doc": "nowhere.pdf", "pages": [1]}])))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q"}\n')
    with pytest.raises(CommandError, match="line 1"):
        call_command("evaluate", str(bad))


@pytest.mark.django_db
def test_evaluate_splits_kinds_skips_and_answers(settings, qa_file):
    search_options(settings, version_check_seconds=0)
    settings.RAGSITE_RERANKER = {"BACKEND": "documents.search.rerank.DisabledReranker", "OPTIONS": {}}
    add_manuals()
    index_rebuild_request(in_process=True)
    path = qa_file(
        [
            {"id": "k1", "question": "-dPDFX", "doc": "ghostscript-notes.pdf", "pages": [1], "kind": "identifier",
             "answer_regex": r"-dPDFX", "split": "dev"},
            {"id": "p1", "question": "How many hours of sun do tomatoes want each day?", "doc": "garden-guide.pdf",
             "pages": [1], "kind": "paraphrase", "answer_regex": r"six hours", "split": "dev"},
            {"id": "p2", "question": "When should I cut back my roses?", "doc": "garden-guide.pdf", "pages": [2],
             "kind": "paraphrase", "answer_regex": r"late winter", "split": "heldout"},
            {"id": "u1", "question": "zzyzx qwvrt", "doc": "r-data-import.pdf", "pages": [], "kind": "unanswerable",
             "answer_regex": None, "split": "dev"},
            # its document was never ingested: reported as skipped, never dropped in silence
            {"id": "s1", "question": "Replace the toner", "doc": "printer-manual.pdf", "pages": [1],
             "kind": "paraphrase", "split": "dev"},
        ]
    )

    out = io.StringIO()
    call_command("evaluate", str(path), "--split", "dev", "--answers", "--json", stdout=out)
    report = json.loads(out.getvalue())

    assert report["split"] == "dev" and report["questions"] == 4
    assert report["skipped"] == [{"id": "s1", "doc": "printer-manual.pdf"}]
    assert report["missing_documents"] == ["printer-manual.pdf"]
    # the unanswerable question is not in the retrieval figures, the heldout one is not there at all
    assert report["retrieval_questions"] == 2
    assert set(report["metrics"]) == {"dense", "bm25", "fused"}  # no reranker loaded
    assert set(report["metrics_by_kind"]) == {"identifier", "paraphrase"}
    assert report["metrics_by_kind"]["identifier"]["bm25"]["recall@1"] == 1.0
    for figures in report["metrics_by_kind"]["paraphrase"].values():
        assert set(figures) == {"recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10"}
    rows = {row["id"]: row for row in report["per_question"]}
    assert set(rows) == {"k1", "p1", "u1"} and rows["k1"]["first_hit"]["bm25"] == 1 and rows["u1"]["first_hit"] == {}

    answers = report["answers"]
    assert answers["mode"] == "extractive" and answers["top_k"] == 5
    assert rows["p1"]["answer_ok"] and "six hours" in rows["p1"]["answer"]
    assert rows["u1"]["refused"] and rows["u1"]["answer_ok"]
    assert answers["unanswerable_refused_share"] == 1.0
    assert answers["by_kind"]["unanswerable"]["questions"] == 1
    assert answers["by_kind"]["all answerable"]["questions"] == 2
    assert answers["answerable_fact_share"] == answers["by_kind"]["all answerable"]["fact_share"]
    assert 0 < answers["latency_ms"]["p50"] <= answers["latency_ms"]["p95"]

    out = io.StringIO()
    call_command("evaluate", str(path), "--split", "heldout", "--answers", stdout=out)
    text = out.getvalue()
    assert text.startswith("1 questions;") and "kind paraphrase" not in text  # one kind: no per-kind tables
    assert "answers (extractive, top_k=5)" in text and "paraphrase" in text
    assert "skipped" not in text

    out = io.StringIO()
    call_command("evaluate", str(path), stdout=out)  # --split all
    text = out.getvalue()
    assert "kind identifier (1 questions)" in text and "kind paraphrase (2 questions)" in text
    assert "1 unanswerable questions" in text and "skipped 1 questions" in text and "printer-manual.pdf" in text


@pytest.mark.django_db
def test_evaluate_as_a_user_and_within_a_collection_never_reaches_another_collection(settings, qa_file, django_user_model):
    search_options(settings, version_check_seconds=0)
    settings.RAGSITE_RERANKER = {"BACKEND": "documents.search.rerank.DisabledReranker", "OPTIONS": {}}
    manuals = add_manuals()
    hr = Collection.objects.create(slug="hr", name="HR", visibility=Collection.Visibility.GROUPS)
    hr.groups.add(Group.objects.create(name="hr-team"))
    Document.objects.filter(pk=manuals["Garden Guide"].pk).update(collection=hr)
    django_user_model.objects.create_user("bob")
    django_user_model.objects.create_user("root", is_superuser=True)
    index_rebuild_request(in_process=True)
    path = qa_file(
        [
            {"id": "g1", "question": "How many hours of sun do tomatoes want each day?", "doc": "garden-guide.pdf",
             "pages": [1], "answer_regex": r"six hours"},
            # asked of R's manual, answered only by the garden guide (another collection)
            {"id": "u1", "question": "How many hours of sun do tomatoes want each day?", "doc": "r-data-import.pdf",
             "pages": [], "kind": "unanswerable"},
            {"id": "r1", "question": "read.table header argument", "doc": "r-data-import.pdf", "pages": [1]},
        ]
    )

    def evaluate(*options):
        out = io.StringIO()
        call_command("evaluate", str(path), "--answers", "--json", *options, stdout=out)
        report = json.loads(out.getvalue())
        return report, {row["id"]: row for row in report["per_question"]}

    report, rows = evaluate()  # no limit: the garden guide answers both
    assert "six hours" in rows["u1"]["answer"] and rows["g1"]["answer_ok"]

    report, rows = evaluate("--as", "bob")  # bob may not read HR
    assert report["as_user"] == "bob" and report["skipped"] == [{"id": "g1", "doc": "garden-guide.pdf"}]
    assert "six hours" not in rows["u1"]["answer"] and rows["u1"]["refused"]
    assert rows["r1"]["first_hit"]["fused"] == 1

    report, rows = evaluate("--as", "root", "--within-collection")  # reads all, each question searched in its own
    assert report["within_collection"] and report["skipped"] == []
    assert "six hours" not in rows["u1"]["answer"] and rows["g1"]["answer_ok"]

    with pytest.raises(CommandError, match="no user named 'nobody'"):
        call_command("evaluate", str(path), "--as", "nobody")


@pytest.mark.django_db
def test_evaluate_output_writes_the_report_it_prints_with_tables(settings, qa_file, tmp_path):
    search_options(settings, version_check_seconds=0)
    settings.RAGSITE_RERANKER = {"BACKEND": "documents.search.rerank.DisabledReranker", "OPTIONS": {}}
    add_manuals()
    index_rebuild_request(in_process=True)
    path = qa_file([
        {"id": "k1", "question": "-dPDFX", "doc": "ghostscript-notes.pdf", "pages": [1], "kind": "identifier",
         "answer_regex": r"-dPDFX"},
        {"id": "u1", "question": "zzyzx qwvrt", "doc": "r-data-import.pdf", "pages": [], "kind": "unanswerable"},
    ])

    out, err = io.StringIO(), io.StringIO()
    call_command("evaluate", str(path), "--split", "dev", "--answers", "--json", "--output", str(tmp_path / "results"),
                 stdout=out, stderr=err)
    printed = json.loads(out.getvalue())  # stdout is the report alone, as without --output
    (written,) = (tmp_path / "results").glob("evaluate-qa-dev-*.json")
    assert json.loads(written.read_text())["report"] == printed
    assert str(written) in err.getvalue()
    markdown = written.with_suffix(".md").read_text()
    assert "| questions | n | method | recall@1 |" in markdown and "| all | 1 | BM25 only |" in markdown
    assert "Answers (extractive, top_k 5" in markdown and "| unanswerable | 1 |" in markdown


def test_refusal_is_recognised_in_a_models_own_words():
    assert is_refusal(NOT_FOUND)
    assert is_refusal("Sorry: i could not find this in the documents")
    assert not is_refusal("The warranty lasts two years [1].")
    assert percentile([], 0.5) == 0.0
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0 and percentile(list(map(float, range(1, 101))), 0.95) == 95.0


@pytest.mark.django_db
def test_evaluate_refuses_bad_splits_and_unanswerable_pages(settings, qa_file):
    search_options(settings, version_check_seconds=0)
    add_manuals()
    index_rebuild_request(in_process=True)
    with pytest.raises(CommandError, match="no heldout questions"):
        call_command("evaluate", str(qa_file([{"question": "q", "doc": "garden-guide.pdf", "pages": [1]}])),
                     "--split", "heldout")
    with pytest.raises(CommandError, match="lists no pages"):
        call_command("evaluate", str(qa_file([{"question": "q", "doc": "garden-guide.pdf", "pages": [1],
                                               "kind": "unanswerable"}])))
    with pytest.raises(CommandError, match="answer_regex"):
        call_command("evaluate", str(qa_file([{"question": "q", "doc": "garden-guide.pdf", "pages": [1],
                                               "answer_regex": "("}])))


@pytest.mark.django_db
def test_evaluate_measures_follow_ups_searched_as_asked_and_rewritten(settings, qa_file):
    """tests/eval_conversations.jsonl: each last turn is ambiguous alone ("How long is it?"
    finds the toaster's cord); the earlier turns, answered in order, say what it is about."""
    search_options(settings, version_check_seconds=0)
    settings.RAGSITE_RERANKER = {"BACKEND": "documents.search.rerank.DisabledReranker", "OPTIONS": {}}
    settings.RAGSITE_LLM = {"BACKEND": "querying.llm.extractive.ExtractiveProvider", "OPTIONS": {}}
    add_manuals()
    add_document("Kettle", ["Fill the kettle up to the MAX mark and press the switch to boil the water.",
                            "The warranty period for the kettle is two years from the date of purchase."])
    add_document("Toaster", ["The power cord of the toaster is 80 cm long, long enough for most kitchens."])
    index_rebuild_request(in_process=True)
    single = qa_file([{"question": "toner cartridge", "doc": "kettle.pdf", "pages": [2]}]).read_text()
    path = qa_file([]).with_name("conversations.jsonl")
    path.write_text((Path(__file__).parent / "eval_conversations.jsonl").read_text() + single)

    out = io.StringIO()
    call_command("evaluate", str(path), "--json", "--after-previous", stdout=out)
    report = json.loads(out.getvalue())
    conversations = report["conversations"]
    assert conversations["items"] == 2 and conversations["mode"] == "extractive"
    assert set(conversations["variants"]) == {"off", "heuristic", "heuristic_documents"}  # no model to rewrite with
    assert conversations["metrics"]["off"]["recall@1"] == 0.0
    assert conversations["metrics"]["heuristic"]["recall@1"] == 1.0
    rows = {row["id"]: row for row in conversations["per_item"]}
    assert rows["warranty"]["heuristic"]["search_query"].startswith("How long is it?")
    assert "warranty" in rows["warranty"]["heuristic"]["search_query"]
    assert rows["chain"]["heuristic"]["first_hit"] == 1  # carried through a second follow-up
    assert set(conversations["metrics_by_kind"]) == {"ellipsis", "follow-up"}
    assert report["after_previous"]["questions"] == 1  # the single question is measured as ever
    assert set(report["metrics"]) == {"dense", "bm25", "fused"}

    out = io.StringIO()
    call_command("evaluate", str(path), stdout=out)
    assert "2 conversations, last turn (answer mode extractive)" in out.getvalue()
    assert "heuristic rewrite" in out.getvalue()

    out = io.StringIO()
    call_command("evaluate", str(path), "--json", "--rewrites", "off", stdout=out)
    assert list(json.loads(out.getvalue())["conversations"]["variants"]) == ["off"]
    with pytest.raises(CommandError, match="--rewrites takes"):
        call_command("evaluate", str(path), "--rewrites", "model")
    with pytest.raises(CommandError, match="two or more turns"):
        call_command("evaluate", str(qa_file([{"turns": ["only one"], "doc": "kettle.pdf", "pages": [2]}])))


def test_the_split_keeps_what_was_held_out_and_holds_out_a_third_of_what_is_added():
    # Questions written later are split among themselves: one tuned on never becomes held out,
    # one held out is never tuned on, and the new ones give a third of each kind to "heldout".
    import importlib.util

    spec = importlib.util.spec_from_file_location("eval_split", Path(__file__).parent.parent / "eval" / "split.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    old = [{"id": f"o{i}", "kind": "paraphrase", "doc": "a.pdf", "split": "heldout" if i < 5 else "dev"} for i in range(9)]
    new = [{"id": f"n{i}", "kind": kind, "doc": "a.pdf"} for i in range(12) for kind in ("paraphrase", "unanswerable")]
    questions = [dict(q) for q in old + new]
    module.split_assign(questions)
    assert [q["split"] for q in questions[:9]] == [q["split"] for q in old]
    for kind in ("paraphrase", "unanswerable"):
        added = [q["split"] for q in questions[9:] if q["kind"] == kind]
        assert added.count("heldout") == 4 and added.count("dev") == 8
