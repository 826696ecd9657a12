"""Building the index from stored chunks and searching it, end to end through the database."""

import json

import numpy as np
import pytest
from django.core.management import call_command

from documents import services as document_services
from documents.embedding import get_embedder
from documents.models import Chunk, Document, SearchIndexState
from documents.search.errors import IndexModelMismatch
from documents.search.selectors import chunk_search, search_status
from documents.search.services import index_rebuild_request
from tests.search_corpus import add_document, add_manuals, search_options

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _search_settings(settings):
    search_options(settings, version_check_seconds=0)
    settings.RAGSITE_RERANKER = {"BACKEND": "documents.search.rerank.DisabledReranker", "OPTIONS": {}}


def test_empty_corpus_answers_with_no_results():
    response = chunk_search(query="anything at all", top_k=5)
    assert response.results == [] and response.index_version is None and response.reranked is False

    index_rebuild_request(in_process=True)  # an index of nothing is still an index
    response = chunk_search(query="anything at all", top_k=5)
    assert response.results == [] and response.index_version == 1


def test_results_carry_passage_document_and_component_ranks():
    manuals = add_manuals()
    index_rebuild_request(in_process=True)

    response = chunk_search(query="how do I load a whitespace separated file with read.table", top_k=3)

    best = response.results[0]
    document = manuals["R Data Import"]
    assert (best.document_id, best.page, best.title) == (document.pk, 1, "R Data Import")
    assert best.chunk_id == Chunk.objects.get(document=document, page=1).pk
    assert best.text.startswith("Use read.table()")
    assert best.original_filename == "r-data-import.pdf"
    assert best.file_url == "/files/documents/test/r-data-import.pdf"
    assert best.dense_rank == 1 and best.bm25_rank == 1 and best.fused_rank == 1
    assert [result.fused_rank for result in response.results] == [1, 2, 3]
    assert response.results[0].score > response.results[1].score
    assert response.index_version == 1
    assert set(response.timings) >= {"embed", "dense", "bm25", "fusion", "rerank", "total"}


def test_identifiers_are_found_by_keyword_as_written_or_without_their_dash():
    manuals = add_manuals()
    index_rebuild_request(in_process=True)
    ghostscript_page_1 = Chunk.objects.get(document=manuals["Ghostscript Notes"], page=1).pk

    for query in ("-dPDFX", "dPDFX", "DPDFX"):
        response = chunk_search(query=query, top_k=3)
        by_keyword = min(response.results, key=lambda r: r.bm25_rank or 99)
        assert by_keyword.chunk_id == ghostscript_page_1 and by_keyword.bm25_rank == 1, query
        assert response.results[0].chunk_id == ghostscript_page_1, query


def test_dense_search_finds_a_paraphrase_with_no_shared_keyword():
    manuals = add_manuals()
    index_rebuild_request(in_process=True)

    response = chunk_search(query="when should I trim my rose bushes", top_k=3)

    best = response.results[0]
    assert (best.document_id, best.page) == (manuals["Garden Guide"].pk, 2)
    assert best.dense_rank == 1


def test_filters_restrict_results_to_the_given_documents():
    manuals = add_manuals()
    index_rebuild_request(in_process=True)
    garden = manuals["Garden Guide"]

    response = chunk_search(query="read.table data frame", top_k=5, document_ids=[garden.pk])
    assert response.results and {r.document_id for r in response.results} == {garden.pk}

    assert chunk_search(query="read.table", top_k=5, document_ids=[]).results == []
    assert chunk_search(query="read.table", top_k=5, document_ids=[987654]).results == []


def test_a_deleted_document_leaves_results_at_once_and_the_index_with_the_rebuild():
    manuals = add_manuals()
    index_rebuild_request(in_process=True)
    r_manual = manuals["R Data Import"]
    r_manual.delete()  # without the rebuild: the stale index must not return its chunks
    assert all(r.document_id != r_manual.pk for r in chunk_search(query="read.table", top_k=6).results)

    document_services.document_delete(document=manuals["Ghostscript Notes"], in_process=True)
    state = SearchIndexState.objects.get(pk=1)
    assert (state.current_version, state.chunk_count) == (2, 2)


def test_each_rebuild_writes_a_new_version_folder_and_prunes_old_ones(settings):
    search_options(settings, keep_versions=2)
    add_manuals()
    for _ in range(4):
        index_rebuild_request(in_process=True)

    state = SearchIndexState.objects.get(pk=1)
    folders = sorted(p.name for p in settings.RAGSITE_INDEX_ROOT.iterdir())
    assert state.current_version == 4 and len(folders) == 2 and folders[-1] == state.current_dir
    manifest = json.loads((settings.RAGSITE_INDEX_ROOT / state.current_dir / "manifest.json").read_text())
    assert manifest["version"] == 4 and manifest["chunk_count"] == 6
    assert manifest["embedding_model"] == get_embedder().name and manifest["dimension"] == 384
    assert manifest["built_at"] and manifest["bm25_backend"] == "bm25s"
    assert chunk_search(query="tomatoes", top_k=1).index_version == 4


def test_only_the_current_generation_of_each_document_is_indexed():
    document = add_document("Old and new", ["first generation text about volcanoes"])
    chunk = Chunk.objects.get(document=document)
    Chunk.objects.create(  # a new generation still being written, not swapped in
        document=document, generation=2, ordinal=0, page=1, text="second generation text about glaciers",
        char_start=0, char_end=10, token_count=5, embedding=chunk.embedding, embedding_model=chunk.embedding_model,
    )
    # A first ingest still being written: no generation of it was ever swapped in.
    add_document("Queued", ["a queued document about glaciers"]).__class__.objects.filter(title="Queued").update(
        status="processing", generation=0
    )
    index_rebuild_request(in_process=True)

    assert SearchIndexState.objects.get(pk=1).chunk_count == 1
    assert [r.chunk_id for r in chunk_search(query="glaciers volcanoes", top_k=5).results] == [chunk.pk]
    document.refresh_from_db()
    assert document.searchable and document.indexed_generation == 1


def test_a_document_being_reingested_stays_searchable_on_its_previous_generation():
    document = add_document("Being redone", ["the lighthouse keeper logs the fog horn hours"])
    Document.objects.filter(pk=document.pk).update(status="processing")
    index_rebuild_request(in_process=True)

    results = chunk_search(query="lighthouse fog horn", top_k=3).results
    assert [r.document_id for r in results] == [document.pk]


def test_queries_embedded_by_another_model_are_refused_until_reembed():
    other = "other-org/other-embedding-model"
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(2, 384)).astype(np.float32)
    document = add_document("Elsewhere", ["vectors from another model", "more of them"], model=other, vectors=vectors)
    index_rebuild_request(in_process=True)

    with pytest.raises(IndexModelMismatch, match="reembed") as caught:
        chunk_search(query="another model", top_k=3)
    assert other in str(caught.value) and get_embedder().name in str(caught.value)
    assert search_status()["embedding_model"] == other

    call_command("reembed", stdout=open("/dev/null", "w"))

    assert set(Chunk.objects.values_list("embedding_model", flat=True)) == {get_embedder().name}
    document.refresh_from_db()
    assert document.embedding_model == get_embedder().name
    assert chunk_search(query="vectors from another model", top_k=1).results[0].page == 1


def test_status_reports_index_and_reranker():
    add_manuals()
    index_rebuild_request(in_process=True)

    status = search_status()

    assert status["index_version"] == 1 and status["loaded_version"] == 1
    assert status["chunk_count"] == 6 and status["embedding_model"] == get_embedder().name
    assert status["built_at"] is not None and status["rebuild_requested"] is False
    assert status["reranker_loaded"] is False and "turned off" in status["reranker_error"]
