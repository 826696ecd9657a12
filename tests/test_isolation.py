"""One bad passage, page or rebuild never takes the whole down: what fails is skipped with its
reason where staff look (the document's row, the admin list, the ingest command's summary), and
everything else goes on. Faults are caused for real where that can be done (a damaged stored
vector, an index folder that cannot be written); a model that fails on one passage is injected."""

import io

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from documents import ingest
from documents.embedding import get_embedder
from documents.models import Chunk, Document, SearchIndexState
from documents.search.selectors import chunk_search
from documents.search.services import index_rebuild_request
from documents.ingest import document_ingest
from documents.services import document_create
from tests import pdfs
from tests.search_corpus import add_document, search_options

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]

GOOD = ["The harbour crane lifts forty tonnes. Its operator cabin is heated in winter."]
POISON = "Poisoned paragraph about the boiler pressure valve."


@pytest.fixture(autouse=True)
def _no_rerank(settings):
    search_options(settings, version_check_seconds=0)
    settings.RAGSITE_RERANKER = {"BACKEND": "documents.search.rerank.DisabledReranker", "OPTIONS": {}}


def upload(data: bytes, name: str) -> Document:
    return document_create(file=io.BytesIO(data), filename=name, enqueue=False)


@pytest.fixture
def model_fails_on_poison(monkeypatch):
    """The embedding model raises on any batch holding the poisoned passage."""
    embedder = get_embedder()
    real = embedder.embed

    def embed(texts):
        if any(POISON in text for text in texts):
            raise RuntimeError("CUDA error: device-side assert triggered")
        return real(texts)

    monkeypatch.setattr(embedder, "embed", embed)


def test_a_passage_the_model_fails_on_is_skipped_with_its_page_and_the_rest_is_kept(model_fails_on_poison, settings):
    settings.RAGSITE_CHUNK_TOKENS = 24  # small chunks: the poisoned sentence is a passage of its own
    pages = [GOOD[0] + " " + "The hook is inspected every week. " * 3, POISON, "Page three says the crane rests on rails."]
    document = upload(pdfs.text_pdf(pages), "crane.pdf")

    outcome = document_ingest(document_id=document.pk, rebuild_index=False)
    document.refresh_from_db()

    assert outcome.status == document.status == "ready"
    assert [entry["page"] for entry in document.skipped_chunks] == [2]
    assert "embedding model failed" in document.skipped_chunks[0]["reason"]
    assert "device-side assert" in document.skipped_chunks[0]["reason"]
    assert "1 passage(s) were skipped" in document.error and "page 2" in document.error
    pages_stored = set(document.chunks.values_list("page", flat=True))
    assert pages_stored == {1, 3} and document.chunk_count == Chunk.objects.filter(document=document).count()


def test_a_page_that_cannot_be_chunked_is_listed_and_the_others_go_on(monkeypatch):
    real = ingest.chunk_page

    def chunk_page(*, page, text, **kwargs):
        if page == 2:
            raise ValueError("a run of 40,000 combining marks")
        return real(page=page, text=text, **kwargs)

    monkeypatch.setattr(ingest, "chunk_page", chunk_page)
    document = upload(pdfs.text_pdf(GOOD * 3), "three.pdf")
    document_ingest(document_id=document.pk, rebuild_index=False)
    document.refresh_from_db()

    assert document.status == "ready" and document.failed_pages == [2]
    assert "page 2: it could not be split into passages (a run of 40,000 combining marks)" in document.error
    assert set(document.chunks.values_list("page", flat=True)) == {1, 3}


def test_a_damaged_stored_vector_is_left_out_of_the_index_and_said_on_its_document():
    good = add_document("Crane manual", GOOD)
    damaged = add_document("Boiler notes", ["the boiler pressure valve opens at six bar", "the boiler is drained in May"])
    chunk = Chunk.objects.filter(document=damaged, page=2).get()
    Chunk.objects.filter(pk=chunk.pk).update(embedding=bytes(chunk.embedding)[:100])  # a truncated write

    index_rebuild_request(in_process=True)

    state = SearchIndexState.objects.get(pk=1)
    assert state.current_version == 1 and state.chunk_count == 2 and state.last_error == ""
    damaged.refresh_from_db()
    good.refresh_from_db()
    assert good.searchable and good.unindexed_chunks == []
    assert damaged.searchable  # its other page is in the index
    assert damaged.unindexed_chunks == [{"page": 2, "reason": "its stored vector is damaged (100 bytes, expected 1536)"}]
    assert [r.document_id for r in chunk_search(query="pressure valve", top_k=1).results] == [damaged.pk]


def test_damaged_sentence_vectors_are_done_without_in_search_and_answers(settings):
    """A chunk whose stored sentence vectors are damaged (values that are not numbers) is still
    found and answered from: search counts its passage's cosine, the answer embeds its lines."""
    from documents.search.selectors import _best_sentence_scores, _read
    from querying.llm.extractive import ExtractiveProvider
    from querying.services import answer_prepare

    settings.RAGSITE_LLM = {"BACKEND": "querying.llm.extractive.ExtractiveProvider", "OPTIONS": {}}
    add_document("Crane manual", GOOD)
    damaged = add_document("Boiler notes", ["The boiler pressure valve opens at six bar. The boiler is drained in May."])
    Chunk.objects.filter(document=damaged).update(sentence_embeddings=b"\xff\x7f" * 384 * 2)  # NaN, twice over
    index_rebuild_request(in_process=True)

    question = "At what pressure does the boiler valve open?"
    found = chunk_search(query=question, top_k=2).results
    assert found[0].document_id == damaged.pk
    # Every candidate keeps a score to rank by: a value that is not a number would have made the
    # fusion's sentence scores count for nothing, and the answer's relevance unorderable.
    keys = [result.chunk_id for result in found]
    vector = get_embedder().embed_query(question)
    assert np.isfinite(_best_sentence_scores(keys, [0.5] * len(keys), vector, _read(keys, None))).all()
    plan = answer_prepare(question=question, top_k=2)
    provider = ExtractiveProvider()
    _, _, relevance = provider.score(plan.question, plan.prompt.passages, plan.prompt.query_vector)
    assert np.isfinite(relevance).all()
    answer = provider.answer(plan.question, plan.prompt.passages, plan.prompt.query_vector)
    assert answer.startswith("The boiler pressure valve opens at six bar.")


def test_text_that_cannot_be_tokenised_stays_findable_by_meaning(monkeypatch):
    from documents.search import rebuild as search_rebuild

    real = search_rebuild.tokenize

    def tokenize(text, **kwargs):
        if "pressure" in text:
            raise IndexError("list index out of range")  # what a lone "_" once did
        return real(text, **kwargs)

    monkeypatch.setattr(search_rebuild, "tokenize", tokenize)
    add_document("Crane manual", GOOD)
    boiler = add_document("Boiler notes", ["the boiler pressure valve opens at six bar"])

    index_rebuild_request(in_process=True)

    boiler.refresh_from_db()
    assert boiler.searchable
    assert boiler.unindexed_chunks == [
        {"page": 1, "reason": "left out of keyword search: its text could not be tokenised (list index out of range)"}
    ]
    results = chunk_search(query="boiler valve opening pressure", top_k=1).results
    assert results[0].document_id == boiler.pk and results[0].dense_rank == 1 and results[0].bm25_rank is None


@pytest.fixture
def unwritable_index_root(settings, tmp_path):
    """The index folder cannot be written (a full or read-only volume): every build fails."""
    def break_it():
        root = tmp_path / "index-broken"
        root.write_text("a file where the index folder should be")
        settings.RAGSITE_INDEX_ROOT = root

    return break_it


def test_a_rebuild_that_fails_keeps_the_previous_index_and_says_so_in_the_admin(
    staff_client, unwritable_index_root, settings
):
    first = add_document("Crane manual", GOOD)
    index_rebuild_request(in_process=True)
    old_root = settings.RAGSITE_INDEX_ROOT

    unwritable_index_root()
    later = add_document("Boiler notes", ["the boiler pressure valve opens at six bar"])
    with pytest.raises(Exception):
        index_rebuild_request(in_process=True)

    state = SearchIndexState.objects.get(pk=1)
    assert state.current_version == 1 and state.failed_at is not None and "rebuild failed" in state.last_error
    first.refresh_from_db()
    later.refresh_from_db()
    assert first.searchable and not later.searchable

    listing = staff_client.get("/admin/documents/document/").content.decode()
    assert "The search index could not be rebuilt" in listing and "previous index (v1)" in listing
    assert "waiting for the search index" in listing
    api = staff_client.get(f"/api/documents/{later.pk}/").json()
    assert api["searchable"] is False and api["status"] == "ready"

    # The previous version still answers.
    settings.RAGSITE_INDEX_ROOT = old_root
    assert [r.document_id for r in chunk_search(query="harbour crane", top_k=1).results] == [first.pk]

    # Once the volume is back, the next build clears the failure.
    index_rebuild_request(in_process=True)
    state.refresh_from_db()
    later.refresh_from_db()
    assert state.failed_at is None and state.last_error == "" and later.searchable
    assert "could not be rebuilt" not in staff_client.get("/admin/documents/document/").content.decode()


def test_ingest_command_prints_its_summary_and_fails_when_the_index_cannot_be_built(tmp_path, unwritable_index_root):
    folder = tmp_path / "pdfs"
    folder.mkdir()
    (folder / "crane.pdf").write_bytes(pdfs.text_pdf(GOOD))
    (folder / "scan.pdf").write_bytes(pdfs.scanned_pdf(1))
    unwritable_index_root()
    out, err = io.StringIO(), io.StringIO()

    with pytest.raises(CommandError, match="the search index is not up to date") as caught:
        call_command("ingest", str(folder), "--no-progress", stdout=out, stderr=err)

    assert caught.value.returncode == 1
    text = out.getvalue()
    assert "crane.pdf" in text and "scan.pdf" in text and "OCR found no text" in text
    assert "2 file(s) handled: 1 ready or already present, 1 failed." in text
    crane_line = next(line for line in text.splitlines() if "crane.pdf" in line)
    assert "  ready  " in crane_line and "  no  " in crane_line  # ready, but not searchable
    assert "could not be brought up to date" in err.getvalue()


def test_ingest_command_exit_status_names_only_real_failures(tmp_path):
    folder = tmp_path / "pdfs"
    folder.mkdir()
    (folder / "crane.pdf").write_bytes(pdfs.text_pdf(GOOD))
    (folder / "scan.pdf").write_bytes(pdfs.scanned_pdf(1))
    out = io.StringIO()
    call_command("ingest", str(folder), "--no-progress", stdout=out)  # a file refused for a stated reason: exit 0
    crane_line = next(line for line in out.getvalue().splitlines() if "crane.pdf" in line)
    assert "  yes  " in crane_line

    with pytest.raises(CommandError, match=r"1 file\(s\) failed \(--strict\)"):
        call_command("ingest", str(folder / "scan.pdf"), "--no-progress", "--reingest", "--strict", stdout=io.StringIO())
