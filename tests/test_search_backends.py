"""The contract every search backend keeps (settings.RAGSITE_SEARCH_BACKEND), run against each:
the embedded FAISS + bm25s index and PostgreSQL with pgvector.

The PostgreSQL cases need a server with the vector extension: `make test` starts one from the
pgserver wheel (tests/pgvector_server.py) and sets RAGSITE_TEST_PGVECTOR=required, so that they
are never skipped there. Elsewhere (SQLite, a PostgreSQL without pgvector) they are skipped."""

import io
import json
import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection, transaction

from documents import services as document_services
from documents.ingest import document_ingest
from documents.embedding import get_embedder, sentence_vectors_pack, sentence_vectors_unpack
from documents.models import Chunk, Document
from documents.text.units import meaning_texts
from documents.search.errors import IndexModelMismatch
from documents.search.postgres import TABLE, PostgresBackend, tsvector_text
from documents.search.selectors import chunk_search, search_rankings
from documents.search.services import index_chunks, index_rebuild_request
from tests import pdfs
from tests.search_corpus import MANUALS, add_document, add_manuals, search_options

pytestmark = pytest.mark.django_db

POSTGRES = {"BACKEND": "documents.search.postgres.PostgresBackend", "OPTIONS": {"m": 16, "ef_construction": 64}}
EMBEDDED = {"BACKEND": "documents.search.embedded.EmbeddedIndexBackend", "OPTIONS": {"version_check_seconds": 0}}


def pgvector_missing() -> str:
    """Why the PostgreSQL backend cannot be tested on this database, or ""."""
    if connection.vendor != "postgresql":
        return f"the test database is {connection.vendor}, not PostgreSQL"
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
        if cursor.fetchone() is None:
            return "this PostgreSQL has no pgvector extension"
    return ""


def require_pgvector() -> None:
    """Skip the test where PostgreSQL with pgvector is missing; fail it where it is required."""
    if reason := pgvector_missing():
        if os.environ.get("RAGSITE_TEST_PGVECTOR") == "required":
            pytest.fail(f"RAGSITE_TEST_PGVECTOR=required but {reason}")
        pytest.skip(reason)


@pytest.fixture(params=["embedded", "postgres"])
def backend(request, settings):
    settings.RAGSITE_RERANKER = {"BACKEND": "documents.search.rerank.DisabledReranker", "OPTIONS": {}}
    if request.param == "postgres":
        require_pgvector()
        settings.RAGSITE_SEARCH_BACKEND = POSTGRES
        call_command("search_fill", stdout=io.StringIO())  # creates the table in the test's transaction
    else:
        settings.RAGSITE_SEARCH_BACKEND = EMBEDDED
    return request.param


def publish(*documents: Document) -> None:
    """What an ingest does once a document's chunks are written: swap them in, then ask for the
    index to catch up (nothing to do for a backend that indexes in the swap)."""
    with transaction.atomic():
        for document in documents:
            index_chunks(chunk_ids=Chunk.objects.filter(document=document).values_list("pk", flat=True),
                         document_id=document.pk, generation=document.generation)
    index_rebuild_request(in_process=True)


def test_results_have_the_same_shape_and_order(backend):
    manuals = add_manuals()
    publish(*manuals.values())

    response = chunk_search(query="how do I load a whitespace separated file with read.table", top_k=3)

    best = response.results[0]
    document = manuals["R Data Import"]
    assert (best.document_id, best.page, best.title) == (document.pk, 1, "R Data Import")
    assert best.chunk_id == Chunk.objects.get(document=document, page=1).pk
    assert best.text.startswith("Use read.table()") and best.file_url == "/files/documents/test/r-data-import.pdf"
    assert best.dense_rank == 1 and best.bm25_rank == 1 and best.fused_rank == 1
    assert [result.fused_rank for result in response.results] == [1, 2, 3]
    assert response.results[0].score > response.results[1].score
    assert set(response.timings) >= {"embed", "dense", "bm25", "fusion", "rerank", "total"}
    # Keyword search alone: identifiers as written, and a paraphrase by dense search alone.
    ghostscript_1 = Chunk.objects.get(document=manuals["Ghostscript Notes"], page=1).pk
    assert search_rankings(query="-dPDFX", rerank=False)["bm25"][0] == ghostscript_1
    roses = chunk_search(query="when should I trim my rose bushes", top_k=1).results[0]
    assert (roses.document_id, roses.page, roses.dense_rank) == (manuals["Garden Guide"].pk, 2, 1)


def test_document_ids_filter_the_results(backend):
    manuals = add_manuals()
    publish(*manuals.values())
    garden = manuals["Garden Guide"]

    response = chunk_search(query="read.table data frame", top_k=5, document_ids=[garden.pk])

    assert sorted((r.document_id, r.page) for r in response.results) == [(garden.pk, 1), (garden.pk, 2)]
    assert chunk_search(query="read.table", top_k=5, document_ids=[]).results == []
    assert chunk_search(query="read.table", top_k=5, document_ids=[987654]).results == []


def test_a_deleted_document_stops_being_found_at_once(backend):
    manuals = add_manuals()
    publish(*manuals.values())
    r_manual = manuals["R Data Import"]
    assert chunk_search(query="read.table", top_k=1).results[0].document_id == r_manual.pk

    document_services.document_delete(document=r_manual)  # no rebuild has run after it

    assert all(r.document_id != r_manual.pk for r in chunk_search(query="read.table", top_k=6).results)
    if backend == "postgres":
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {TABLE} WHERE document_id = %s", [r_manual.pk])
            assert cursor.fetchone()[0] == 0


def _ingest(pages: list[str], name: str) -> Document:
    document = document_services.document_create(file=io.BytesIO(pdfs.text_pdf(pages)), filename=name, enqueue=False)
    outcome = document_ingest(document_id=document.pk, rebuild_index=False)
    assert outcome.status == Document.Status.READY, outcome.detail
    document.refresh_from_db()
    return document


def test_an_ingest_is_searchable_once_its_swap_commits_and_a_reingest_replaces_it(backend, settings):
    document = _ingest(["The lighthouse keeper logs the fog horn hours every night."], "lighthouse.pdf")
    if backend == "embedded":
        index_rebuild_request(in_process=True)  # the embedded index is rebuilt after the swap
    # The PostgreSQL backend needed nothing more: the chunks went in with the swap.
    found = chunk_search(query="fog horn lighthouse", top_k=3).results
    assert [(r.document_id, r.page) for r in found] == [(document.pk, 1)]
    document.refresh_from_db()
    assert document.searchable

    old = set(Chunk.objects.filter(document=document).values_list("pk", flat=True))
    with open(document.file.path, "wb") as handle:  # the file corrected, then ingested again
        handle.write(pdfs.text_pdf(["The keeper now logs the tide tables instead."]))
    assert document_ingest(document_id=document.pk, force=True, rebuild_index=False).status == "ready"
    if backend == "embedded":
        index_rebuild_request(in_process=True)
    found = chunk_search(query="keeper tide tables fog horn", top_k=3).results
    assert found and {r.chunk_id for r in found}.isdisjoint(old) and "tide tables" in found[0].text
    if backend == "postgres":  # no files: web processes and workers need no shared index folder
        assert not settings.RAGSITE_INDEX_ROOT.exists()


def test_an_empty_corpus_answers_with_no_results(backend):
    assert chunk_search(query="anything at all", top_k=5).results == []
    assert search_rankings(query="anything", rerank=False) == {"dense": [], "bm25": [], "fused": [], "reranked": None}
    add_document("Queued", ["written but never swapped in"]).__class__.objects.update(generation=0)
    publish()
    assert chunk_search(query="written but never swapped in", top_k=5).results == []


def test_a_passage_is_also_ranked_by_its_best_sentence_as_stored_at_ingest(backend, settings):
    """The meaning part of the fusion counts each passage's best stored sentence: with the
    keywords alike, the passage whose sentence is the question wins, and stored the other way
    round, the other one does."""
    query = "sensor range"
    texts = ["Sensor range: see the display icons.", "Sensor range: see the funnel cleaning."]
    document = add_document("Weather station", texts)
    publish(document)
    first, second = document.chunks.order_by("ordinal")
    vector = get_embedder().embed_query(query)
    search_options(settings, sentence_share=1.0)

    def top_page(answering: Chunk, other: Chunk) -> int:
        Chunk.objects.filter(pk=answering.pk).update(sentence_embeddings=sentence_vectors_pack(vector[None, :]))
        Chunk.objects.filter(pk=other.pk).update(sentence_embeddings=sentence_vectors_pack(-vector[None, :]))
        return chunk_search(query=query, top_k=2).results[0].page

    assert top_page(second, first) == 2
    assert top_page(first, second) == 1


def test_a_question_the_embedding_model_cannot_read_is_ranked_by_its_keywords(backend, settings):
    """all-MiniLM-L6-v2 reads English, not Russian: asked in Russian, the passage that holds the
    question's command wins on its keyword although the model's vectors favour another; asked in
    English with the same vectors, meaning still outweighs the keyword, as it does in Russian when
    the weighting is off."""
    texts = [
        "mktexlsr обновляет базу данных имён файлов.",
        "Пакеты устанавливаются из сети.",
        "Документация лежит в каталоге.",
    ]
    document = add_document("Руководство", texts)
    publish(document)
    keyword_hit, meaning_favourite, neither = document.chunks.order_by("ordinal")
    search_options(settings, sentence_share=1.0)

    def top_page(query: str) -> int:
        # The stored sentence vectors say: the second page means the query, the first its opposite.
        vector = get_embedder().embed_query(query)
        rest = np.roll(vector, 1)[None, :]
        for chunk, stored in ((keyword_hit, -vector[None, :]), (meaning_favourite, vector[None, :]), (neither, rest)):
            Chunk.objects.filter(pk=chunk.pk).update(sentence_embeddings=sentence_vectors_pack(stored))
        return chunk_search(query=query, top_k=3).results[0].page

    embedder = get_embedder()
    assert embedder.vocabulary_coverage("Что делает команда mktexlsr?") < 0.5
    assert embedder.vocabulary_coverage("What does the mktexlsr command do?") == 1.0
    assert top_page("Что делает команда mktexlsr?") == 1
    assert top_page("What does the mktexlsr command do?") == 2
    search_options(settings, dense_by_coverage=False)
    assert top_page("Что делает команда mktexlsr?") == 2


def test_queries_embedded_by_another_model_are_refused_until_reembed(backend):
    other = "other-org/other-embedding-model"
    vectors = np.random.default_rng(0).normal(size=(2, 384)).astype(np.float32)
    document = add_document("Elsewhere", ["vectors from another model", "more of them"], model=other, vectors=vectors)
    # The other model's sentence vectors too: an extractive answer would compare them with queries.
    document.chunks.update(sentence_embeddings=sentence_vectors_pack(vectors[:1]))
    publish(document)

    with pytest.raises(IndexModelMismatch, match="reembed"):
        chunk_search(query="another model", top_k=3)

    call_command("reembed", stdout=io.StringIO())

    found = chunk_search(query="vectors from another model", top_k=1).results[0]
    assert found.page == 1
    (line,) = meaning_texts(found.text)
    stored = sentence_vectors_unpack(found.sentence_vectors, dimension=384, count=1)
    assert stored is not None and np.allclose(stored, get_embedder().embed([line]), atol=2e-3)


def test_keywords_match_across_inflections_and_an_index_from_before_stems_answers_until_rebuilt(
    backend, monkeypatch
):
    """Keyword search matches a word's other forms ("pruning" finds "Prune"). An index written
    before stemming (whole words) is searched with whole words until it is rebuilt (embedded) or
    filled again (PostgreSQL), then with stems."""
    from documents.search import rebuild as search_rebuild

    manuals = add_manuals()
    garden_2 = Chunk.objects.get(document=manuals["Garden Guide"], page=2).pk
    if backend == "postgres":
        with connection.cursor() as cursor:
            cursor.execute(f"COMMENT ON TABLE {TABLE} IS NULL")  # as a table created before stemming
    else:
        monkeypatch.setattr(search_rebuild, "KEYWORD_STEMS", False)  # as a build before stemming
    publish(*manuals.values())

    def keyword_top(query):
        return search_rankings(query=query, rerank=False)["bm25"][:1]

    assert keyword_top("Prune") == [garden_2]  # whole words, as written
    assert keyword_top("pruning") == []

    monkeypatch.undo()
    if backend == "postgres":
        out = io.StringIO()
        call_command("search_fill", stdout=out)
        assert "rewriting the keyword tokens of 6 rows as word stems" in out.getvalue()
    else:
        index_rebuild_request(in_process=True)

    assert keyword_top("pruning") == keyword_top("pruned") == keyword_top("Prune") == [garden_2]
    tomatoes = Chunk.objects.get(document=manuals["Garden Guide"], page=1).pk
    assert keyword_top("tomato watered") == [tomatoes]
    assert search_rankings(query="read.tables", rerank=False)["bm25"][0] == Chunk.objects.get(
        document=manuals["R Data Import"], page=1
    ).pk  # an identifier's parts are stemmed beside it


def test_switching_backends_is_a_setting_and_search_fill(settings):
    """The same corpus, searched by the embedded index and then by PostgreSQL after search_fill,
    ranks the same passages first."""
    require_pgvector()
    settings.RAGSITE_RERANKER = {"BACKEND": "documents.search.rerank.DisabledReranker", "OPTIONS": {}}
    settings.RAGSITE_SEARCH_BACKEND = EMBEDDED
    add_manuals()
    index_rebuild_request(in_process=True)
    queries = [page for pages in MANUALS.values() for page in pages] + ["roses", "-dNOPAUSE", "csv row names"]
    embedded = [[r.chunk_id for r in chunk_search(query=q, top_k=2).results] for q in queries]

    settings.RAGSITE_SEARCH_BACKEND = POSTGRES
    out = io.StringIO()
    call_command("search_fill", stdout=out)
    assert "6 chunks searchable" in out.getvalue()

    assert [[r.chunk_id for r in chunk_search(query=q, top_k=2).results] for q in queries] == embedded
    call_command("search_fill", stdout=out)  # again: nothing to add
    assert "0 chunks to add, 6 already there" in out.getvalue()


def test_a_filter_larger_than_the_exact_limit_walks_the_hnsw_index(settings):
    require_pgvector()
    settings.RAGSITE_RERANKER = {"BACKEND": "documents.search.rerank.DisabledReranker", "OPTIONS": {}}
    settings.RAGSITE_SEARCH_BACKEND = POSTGRES
    call_command("search_fill", stdout=io.StringIO())
    manuals = add_manuals()
    publish(*manuals.values())
    settings.RAGSITE_SEARCH_BACKEND = {**POSTGRES, "OPTIONS": {**POSTGRES["OPTIONS"], "exact_filter_rows": 0}}
    garden = manuals["Garden Guide"]
    results = chunk_search(query="tomatoes sunlight", top_k=3, document_ids=[garden.pk]).results
    assert sorted((r.document_id, r.page) for r in results) == [(garden.pk, 1), (garden.pk, 2)]


def test_a_long_passages_vector_and_tokens_stay_in_its_row(settings):
    """A 300-word passage's search row (its vector and its tokens, over 2 KB together) is kept in
    the table's own pages, where every distance and keyword score reads it, not moved out to the
    TOAST table as PostgreSQL does by default; also in a table created before (search_fill)."""
    require_pgvector()
    settings.RAGSITE_SEARCH_BACKEND = POSTGRES
    call_command("search_fill", stdout=io.StringIO())
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {TABLE} RESET (toast_tuple_target)")  # as a table of an older version
    call_command("search_fill", stdout=io.StringIO())
    long = " ".join(f"Term{n} of the valve manual" for n in range(300))
    publish(add_document("Long manual", [long]))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT pg_column_size(tsv) + pg_column_size(embedding) FROM {TABLE}")
        assert cursor.fetchone()[0] > 2048
        cursor.execute(f"SELECT pg_relation_size(reltoastrelid) FROM pg_class WHERE oid = '{TABLE}'::regclass")
        assert cursor.fetchone()[0] == 0
    assert chunk_search(query="term299 valve", top_k=1).results[0].text == long


@pytest.mark.parametrize("build_memory", ["1GB'; DROP TABLE documents_chunk; --", "lots", "", "1 GB"])
def test_a_build_memory_that_is_no_size_is_refused_naming_the_setting(build_memory):
    with pytest.raises(ImproperlyConfigured, match="RAGSITE_SEARCH_BACKEND build_memory"):
        PostgresBackend(build_memory=build_memory)
    assert PostgresBackend(build_memory="4GB").build_memory == "4GB"


def test_tsvector_text_quotes_every_token_and_keeps_its_positions():
    assert tsvector_text(["c++", "it's", "c++", "a\\b"]) == "'c++':1,3 'it''s':2 'a\\\\b':4"


@hypothesis_settings(max_examples=60)
@given(st.lists(st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), min_size=1, max_size=30),
                max_size=12))
def test_any_tokens_come_back_from_a_tsvector_as_written(tokens):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    with connection.cursor() as cursor:
        cursor.execute("SELECT tsvector_to_array(%s::tsvector)", [tsvector_text(tokens)])
        assert set(cursor.fetchone()[0]) == set(tokens)


def test_the_evaluation_reads_either_backend_alike(backend, tmp_path):
    """`manage.py evaluate` measures whichever backend is configured: on the same questions
    both give the same figures (every method's top 10 holds all 8 chunks here)."""
    add_manuals()
    printer = add_document("Printer Manual", ["Replace the toner cartridge when the light blinks.", "Duplex printing."])
    publish(*Document.objects.exclude(pk=printer.pk), printer)
    questions = [
        {"question": "-dPDFX", "doc": "ghostscript-notes.pdf", "pages": [1]},
        {"question": "read.table header argument", "doc": "r-data-import.pdf", "pages": [1]},
        {"question": "toner cartridge", "doc": "printer-manual.pdf", "pages": [1]},
        {"question": "tomatoes sunlight", "doc": "garden-guide.pdf", "pages": [9]},  # not in the corpus
    ]
    path = tmp_path / "qa.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in questions))
    out = io.StringIO()
    call_command("evaluate", str(path), "--json", "--no-rerank", stdout=out)
    report = json.loads(out.getvalue())
    assert report["questions"] == 4 and report["chunk_count"] == 8
    for method in ("dense", "bm25", "fused"):
        assert report["metrics"][method]["recall@10"] == 0.75, method
    # the three answerable questions each have one keyword match, on their answer page
    assert report["metrics"]["bm25"]["recall@1"] == 0.75
    assert report["metrics"]["fused"]["recall@5"] == 0.75
