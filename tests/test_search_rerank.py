"""The cross-encoder stage: the real CrossEncoder code path with a model built from the bundled
MiniLM weights, and the path where the configured model cannot be loaded."""

import logging

import pytest
from django.test import Client
from django.urls import include, path

from documents.search.selectors import chunk_search, search_status
from documents.search.services import index_rebuild_request
from tests.search_corpus import add_manuals, minilm_cross_encoder_dir, search_options

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

# The lead includes documents.search.urls at api/search/; this test module is its own URLconf.
urlpatterns = [path("api/search/", include("documents.search.urls"))]

QUERY = "how do I load a whitespace separated file into R"


def _reranker(settings, model):
    settings.RAGSITE_RERANKER = {
        "BACKEND": "documents.search.rerank.CrossEncoderReranker",
        "OPTIONS": {"model": str(model), "max_length": 256, "local_files_only": True},
    }


@pytest.fixture(autouse=True)
def _search_settings(settings):
    search_options(settings, version_check_seconds=0)
    search_options(settings, rerank_top_n=4)


def test_the_cross_encoder_reorders_the_fused_candidates_by_its_own_scores(settings):
    from sentence_transformers import CrossEncoder

    _reranker(settings, minilm_cross_encoder_dir())
    add_manuals()
    index_rebuild_request(in_process=True)

    fused = chunk_search(query=QUERY, top_k=6, rerank=False)
    response = chunk_search(query=QUERY, top_k=6, rerank=True)

    assert response.reranked is True and response.rerank_error == ""
    head, tail = response.results[:4], response.results[4:]
    # the four best fused passages, scored by the cross-encoder and sorted by that score
    assert {r.chunk_id for r in head} == {r.chunk_id for r in fused.results[:4]}
    expected = CrossEncoder(str(minilm_cross_encoder_dir()), max_length=256).predict([(QUERY, r.text) for r in head])
    assert [r.rerank_score for r in head] == pytest.approx([float(s) for s in expected], abs=1e-4)
    assert [r.score for r in head] == sorted((r.score for r in head), reverse=True)
    assert [r.rerank_rank for r in head] == [1, 2, 3, 4]
    # past the reranked head, the fused order goes on unchanged
    assert [r.chunk_id for r in tail] == [r.chunk_id for r in fused.results[4:]]
    assert all(r.rerank_rank is None and r.score == r.fused_score for r in tail)
    assert response.timings["rerank"] > 0

    status = search_status()
    assert status["reranker_loaded"] is True and status["reranker_error"] == ""


def test_an_unloadable_reranker_leaves_the_fused_order_and_says_so_once_in_the_log(settings, tmp_path, caplog):
    missing = tmp_path / "no-such-cross-encoder"
    _reranker(settings, missing)
    add_manuals()
    index_rebuild_request(in_process=True)
    fused = chunk_search(query=QUERY, top_k=4, rerank=False)

    with caplog.at_level(logging.WARNING, logger="documents.search.rerank"):
        first = chunk_search(query=QUERY, top_k=4)
        second = chunk_search(query="tomatoes", top_k=2)

    for response in (first, second):
        assert response.reranked is False and str(missing) in response.rerank_error
    assert [r.chunk_id for r in first.results] == [r.chunk_id for r in fused.results]
    assert all(r.rerank_score is None and r.score == r.fused_score for r in first.results)
    warnings = [record for record in caplog.records if "will not be reranked" in record.getMessage()]
    assert len(warnings) == 1 and str(missing) in warnings[0].getMessage()

    status = search_status()
    assert status["reranker_loaded"] is False and str(missing) in status["reranker_error"]


def test_search_and_status_endpoints(settings, staff_client):
    settings.RAGSITE_RERANKER = {"BACKEND": "documents.search.rerank.DisabledReranker", "OPTIONS": {}}
    manuals = add_manuals()
    index_rebuild_request(in_process=True)

    response = staff_client.post(
        "/api/search/", {"query": "-dPDFX output intent", "top_k": 2}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["reranked"] is False and "turned off" in body["rerank_error"] and body["index_version"] == 1
    best = body["results"][0]
    assert best["document_id"] == manuals["Ghostscript Notes"].pk and best["page"] == 1
    assert best["bm25_rank"] == 1 and best["fused_rank"] == 1 and best["dense_rank"] is not None
    assert best["file_url"].endswith("ghostscript-notes.pdf")

    filtered = staff_client.post(
        "/api/search/",
        {"query": "-dPDFX", "top_k": 3, "document_ids": [manuals["Garden Guide"].pk]},
        content_type="application/json",
    ).json()
    assert {r["document_id"] for r in filtered["results"]} == {manuals["Garden Guide"].pk}

    assert staff_client.post("/api/search/", {"top_k": 2}, content_type="application/json").status_code == 400

    status = staff_client.get("/api/search/status/").json()
    assert status["index_version"] == 1 and status["chunk_count"] == 6 and status["reranker_loaded"] is False
    assert status["embedding_model"] and status["built_at"]

    anonymous = Client()
    assert anonymous.get("/api/search/status/").status_code == 401  # no credentials: 401, asking for a key
    assert anonymous.post("/api/search/", {"query": "x"}, content_type="application/json").status_code == 401
