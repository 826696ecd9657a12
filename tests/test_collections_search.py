"""Search within the collections an asker may read, on both search backends: the filter is
applied inside the dense and the keyword search (FAISS's selector and bm25s's mask; the WHERE of
pgvector's and full-text search's queries), so a selective filter still returns a full top k."""

import numpy as np
import pytest

from documents.embedding import get_embedder
from documents.models import Chunk, Collection, Document, general_collection_id
from documents.search.selectors import chunk_search, search_rankings, search_status
from tests.search_corpus import add_document, add_manuals, search_options
from tests.test_search_backends import backend, publish, require_pgvector  # noqa: F401

pytestmark = pytest.mark.django_db

HR_PAGES = [f"Staff handbook section {n}: leave requests are approved by the line manager." for n in range(1, 9)]


def _hr_collection(*documents: Document) -> Collection:
    hr = Collection.objects.create(slug="hr", name="HR", visibility=Collection.Visibility.GROUPS)
    Document.objects.filter(pk__in=[d.pk for d in documents]).update(collection=hr)
    return hr


def _manuals_and_a_handbook_in_hr() -> tuple[Document, Collection, Collection]:
    """The three manuals in `general` and an 8-page staff handbook in `hr`, published: the
    handbook, hr and general."""
    manuals = add_manuals()
    handbook = add_document("Staff Handbook", HR_PAGES)
    hr = _hr_collection(handbook)
    publish(*manuals.values(), handbook)
    return handbook, hr, Collection.objects.get(pk=general_collection_id())


def test_a_selective_filter_returns_a_full_top_k_from_the_admitted_collection_only(backend):  # noqa: F811
    handbook, hr, general = _manuals_and_a_handbook_in_hr()

    within_hr = chunk_search(query="read.table data frame", top_k=5, collection_ids=[hr.pk], rerank=False).results
    assert len(within_hr) == 5 and {r.document_id for r in within_hr} == {handbook.pk}

    public = chunk_search(query="leave requests line manager handbook", top_k=8, collection_ids=[general.pk]).results
    assert public and handbook.pk not in {r.document_id for r in public}
    assert "handbook" not in " ".join(r.text + r.title for r in public).lower()

    assert chunk_search(query="leave requests", top_k=5, collection_ids=[]).results == []
    # Named documents and collections: only what both admit.
    assert chunk_search(query="leave", top_k=5, collection_ids=[general.pk], document_ids=[handbook.pk]).results == []
    # Every collection read: the same results as no filter.
    everything = [general.pk, hr.pk]
    assert [r.chunk_id for r in chunk_search(query="tomatoes", top_k=4, collection_ids=everything).results] == [
        r.chunk_id for r in chunk_search(query="tomatoes", top_k=4).results
    ]
    rankings = search_rankings(query="leave requests manager", depth=10, rerank=False, collection_ids=[general.pk])
    assert not set(rankings["fused"]) & set(Chunk.objects.filter(document=handbook).values_list("pk", flat=True))


def test_a_document_moved_out_of_the_askers_collections_is_not_shown_even_before_the_index_knows(backend):  # noqa: F811
    manuals = add_manuals()
    publish(*manuals.values())
    garden = manuals["Garden Guide"]
    general = Collection.objects.get(pk=general_collection_id())
    _hr_collection(garden)  # no rebuild, no re-index: the move is a row update

    results = chunk_search(query="tomatoes sunlight roses", top_k=6, collection_ids=[general.pk]).results
    assert results and garden.pk not in {r.document_id for r in results}


def test_a_document_moved_out_while_the_question_is_searched_is_not_shown(backend, monkeypatch):  # noqa: F811
    """The collections are read when the question arrives and checked again on the rows read
    after the search: a move that commits in between withholds the document."""
    from documents.search import selectors

    manuals = add_manuals()
    publish(*manuals.values())
    garden = manuals["Garden Guide"]
    admitted = selectors._admitted_documents

    def moved_meanwhile(*args):
        documents = admitted(*args)
        _hr_collection(garden)
        return documents

    monkeypatch.setattr(selectors, "_admitted_documents", moved_meanwhile)
    results = chunk_search(query="tomatoes sunlight roses", top_k=6, collection_ids=[general_collection_id()]).results
    assert results and garden.pk not in {r.document_id for r in results}


def test_the_status_counts_are_those_of_the_askers_collections(backend):  # noqa: F811
    handbook, hr, general = _manuals_and_a_handbook_in_hr()

    assert search_status(collection_ids=[general.pk])["chunk_count"] == 6
    assert search_status(collection_ids=[hr.pk])["chunk_count"] == 8
    assert search_status(collection_ids=[general.pk, hr.pk])["chunk_count"] == 14


def test_pgvector_reads_the_admitted_rows_exactly_when_the_hnsw_walk_finds_too_few(settings):
    """With the filter past exact_filter_rows the HNSW graph is walked and filtered after; the
    admitted rows here lie opposite the query, beyond what the walk reaches: the exact scan must
    still return the full top k."""
    require_pgvector()
    from django.core.management import call_command
    import io

    from tests.test_search_backends import POSTGRES

    settings.RAGSITE_RERANKER = {"BACKEND": "documents.search.rerank.DisabledReranker", "OPTIONS": {}}
    settings.RAGSITE_SEARCH_BACKEND = POSTGRES
    call_command("search_fill", stdout=io.StringIO())
    query = get_embedder().embed_query("lighthouse fog horn")
    rng = np.random.default_rng(7)

    def around(direction, count):
        vectors = direction + 0.3 * rng.standard_normal((count, len(direction))).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    crowd = add_document("Crowd", [f"crowd passage {n}" for n in range(3000)], vectors=around(query, 3000))
    far = add_document("Far", [f"far passage {n}" for n in range(60)], vectors=around(-query, 60))
    hr = _hr_collection(far)
    publish(crowd, far)
    # A walk of about 10 / (60 / 3060) = 510 candidates, nearest first: none of them admitted.
    search_options(settings, exact_filter_rows=0, ef_search=10, candidates=10)

    dense = search_rankings(query="lighthouse fog horn", depth=10, rerank=False, collection_ids=[hr.pk])["dense"]
    far_chunks = set(Chunk.objects.filter(document=far).values_list("pk", flat=True))
    assert len(dense) == 10 and set(dense) <= far_chunks
