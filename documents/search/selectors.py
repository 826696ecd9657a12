"""Reads of the search index: chunk_search, the rankings the evaluation compares, and status."""

import time
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np
from django.conf import settings
from django.db.models import F

from documents.embedding import Embedder, get_embedder, sentence_vectors_unpack
from documents.models import Collection, Document, SearchIndexState
from documents.search.backends import Searcher, Tuning, search_backend
from documents.search.errors import IndexModelMismatch
from documents.search.fusion import Fused, reciprocal_rank_fusion, score_fusion, spread_pages
from documents.search.rerank import Reranker, get_reranker
from documents.selectors import current_chunks
from documents.storage import citation_url, document_storage
from documents.text.tokenize import tokenize


@dataclass
class SearchResult:
    chunk_id: int
    document_id: int
    title: str
    original_filename: str
    file_url: str
    page: int  # 1-based: a PDF's page, else the section's place in reading order
    text: str
    ocr: bool  # the text was recognised from the page's image
    score: float  # the reranker's score when reranked, else the fused score
    fused_score: float
    rerank_score: float | None
    dense_rank: int | None  # 1-based place in each list, None when absent from it
    bm25_rank: int | None
    fused_rank: int
    rerank_rank: int | None
    # The chunk's stored sentence vectors (Chunk.sentence_embeddings); b"" when it has none.
    sentence_vectors: bytes = b""
    format: str = "pdf"  # the document's (Document.Format)
    section: str = ""  # the heading path of a section-based document's passage ("" for a PDF)
    anchor: str = ""  # where its citation opens the section
    url: str = ""  # where a citation opens the passage (documents.storage.citation_url)


@dataclass
class SearchResponse:
    results: list[SearchResult]
    reranked: bool
    index_version: int | None
    rerank_error: str = ""  # why results were not reranked although asked; "" otherwise
    reranker_model: str = ""
    timings: dict[str, float] = field(default_factory=dict)  # milliseconds
    # The query's embedding, as search computed it (None when nothing was searched): an answer
    # that weighs meaning reuses it instead of loading and running the model again.
    query_vector: np.ndarray | None = None


@dataclass(slots=True)
class _Row:
    """What search reads of a candidate chunk and its document (for the fusion, the reranker and
    the result): not its vector, nor the document's lists of pages. Plain values: building a model
    instance for each of a query's hundred candidates took as long as reading them."""

    pk: int
    document_id: int
    page: int
    section: str
    anchor: str
    text: str
    ocr: bool
    sentence_embeddings: bytes | None
    title: str
    original_filename: str
    file_name: str
    format: str
    collection_id: int


@dataclass
class _Candidates:
    dense: list[int]  # chunk ids, best first
    bm25: list[int]
    fused: list[Fused]
    vector: np.ndarray | None = None  # the query's embedding
    # The candidates that still count and may be read, by id, with their documents (_read).
    rows: dict[int, _Row] = field(default_factory=dict)


def _check_model(searcher: Searcher, embedder_name: str) -> None:
    if searcher.embedding_model and searcher.embedding_model != embedder_name:
        version = f" (v{searcher.version})" if searcher.version is not None else ""
        raise IndexModelMismatch(
            f"the search index{version} was built from passages embedded with "
            f"{searcher.embedding_model!r}, but queries are now embedded with {embedder_name!r} "
            "(settings.RAGSITE_EMBEDDER): run `python manage.py reembed` to embed the corpus again with "
            "the new model, or set the embedding model back"
        )


def _retrieve(
    searcher: Searcher, query: str, *, tuning: Tuning, depth: int, document_ids: Iterable[int] | None,
    collection_ids: list[int] | None, timings: dict,
) -> _Candidates:
    """The backend's candidates for query (at least `depth` of each side), fused as `tuning`
    says: the same fusion whichever backend found them. Their rows are read once (_read), for
    the fusion's sentence vectors, the pages and the results alike."""
    embedder = get_embedder()
    _check_model(searcher, embedder.name)
    mark = time.perf_counter()

    def lap(name):
        nonlocal mark
        now = time.perf_counter()
        timings[name] = round((now - mark) * 1000, 3)
        mark = now

    if document_ids is not None and not document_ids:
        for name in ("embed", "dense", "bm25", "fetch", "fusion"):
            timings[name] = 0.0
        return _Candidates([], [], [])
    vector = embedder.embed_query(query)
    lap("embed")
    tokens = tokenize(query, stems=searcher.stems)  # as the keyword index was built
    k = max(tuning.candidates, depth)
    found = searcher.candidates(vector, tokens, k=k, document_ids=document_ids, lap=lap)
    for name in ("dense", "bm25"):
        timings.setdefault(name, 0.0)
    rows = _read(found.keys, collection_ids)
    lap("fetch")
    if tuning.fusion == "rrf":
        fused = reciprocal_rank_fusion([found.dense_ranked, found.keyword_ranked], k=tuning.rrf_k)
    else:
        places = [{key: r for r, key in enumerate(ranked, start=1)} for ranked in (found.dense_ranked, found.keyword_ranked)]
        share = tuning.sentence_share
        fused = score_fusion(
            found.keys, found.dense, found.keyword,
            dense_weight=_dense_weight(embedder, query, tuning),
            ranks=[[place.get(key) for place in places] for key in found.keys],
            sentence=_best_sentence_scores(found.keys, found.dense, vector, rows) if share else None,
            sentence_share=share,
        )
    lap("fusion")
    return _Candidates(found.dense_ranked, found.keyword_ranked, fused, vector, rows)


def _dense_weight(embedder: Embedder, query: str, tuning: Tuning) -> float:
    """The dense share of the score fusion for this query: tuning.dense_weight, scaled by how much
    of the query the embedding model reads as words it knows when tuning.dense_by_coverage (an
    English-only model cuts a Russian question into letters, and its vector then finds next to
    nothing: keywords decide)."""
    weight = tuning.dense_weight
    if tuning.dense_by_coverage:
        weight *= embedder.vocabulary_coverage(query)
    return weight


def _best_sentence_scores(
    keys: list[int], dense: list[float], vector: np.ndarray, rows: dict[int, _Row]
) -> list[float]:
    """Each candidate's best sentence's cosine with the query, from the sentence vectors stored
    at ingest (Chunk.sentence_embeddings of its row); the passage's own cosine where none were
    stored, or where its row was not read (it will not be shown)."""
    scores = []
    for key, cosine in zip(keys, dense):
        row = rows.get(key)
        vectors = sentence_vectors_unpack(bytes(row.sentence_embeddings or b"") if row else b"", dimension=len(vector))
        scores.append(float((vectors @ vector).max()) if vectors is not None else cosine)
    return scores


def _admitted_chunks(collection_ids: list[int] | None):
    """The chunks that count and that the asker may read (all that count when collection_ids is
    None)."""
    chunks = current_chunks()
    return chunks if collection_ids is None else chunks.filter(document__collection_id__in=collection_ids)


def _reads_every_collection(collection_ids: list[int]) -> bool:
    """Whether collection_ids hold every collection there is: then nothing needs filtering."""
    return not Collection.objects.exclude(pk__in=collection_ids).exists()


def _admitted_documents(collection_ids: list[int], document_ids: list[int] | None) -> list[int] | None:
    """The document filter that search applies inside each backend for an asker who reads
    collection_ids (within document_ids when given): None (no filter) when they read every
    collection and named no documents."""
    if document_ids is None and _reads_every_collection(collection_ids):
        return None
    admitted = Document.objects.filter(collection_id__in=collection_ids)
    if document_ids is not None:
        admitted = admitted.filter(pk__in=document_ids)
    return list(admitted.values_list("pk", flat=True))


_READ = ("pk", "document_id", "page", "section", "anchor", "text", "ocr", "sentence_embeddings",
         "document__title", "document__original_filename", "document__file", "document__format",
         "document__collection_id")


def _read(chunk_ids: list[int], collection_ids: list[int] | None) -> dict[int, _Row]:
    """The chunks that still count (a document deleted since the build drops out at once) and may
    be read (one moved out of the asker's collections while the query ran drops out too), by id,
    with their documents: one query, after the search.

    The query reads by primary key and the collection is checked on the rows it returns. Filtered
    by collection in SQL, PostgreSQL took a collection its statistics did not know yet for one
    document and read every chunk of its documents to find the hundred (10,000 rows at 1M chunks)."""
    rows = (_Row(*values) for values in current_chunks().filter(pk__in=chunk_ids).order_by().values_list(*_READ))
    admitted = None if collection_ids is None else set(collection_ids)
    return {row.pk: row for row in rows if admitted is None or row.collection_id in admitted}


def _pages(fused: list[Fused], tuning: Tuning, rows: dict[int, _Row]) -> list[Fused]:
    """The fused candidates whose rows were read (_read), each page's best passage first when
    tuning.spread_pages."""
    fused = [item for item in fused if item.key in rows]
    if tuning.spread_pages:
        fused = spread_pages(fused, lambda key: (rows[key].document_id, rows[key].page))
    return fused


def _reranked(reranker: Reranker, query: str, pool: list[Fused], rows: dict) -> list[tuple[Fused, float]]:
    """The pool in the cross-encoder's order, each with its score (ties keep the fused order)."""
    scores = reranker.score(query, [rows[item.key].text for item in pool])
    order = sorted(range(len(pool)), key=lambda i: (-float(scores[i]), i))
    return [(pool[i], float(scores[i])) for i in order]


def chunk_search(
    *, query: str, top_k: int = 5, document_ids: Iterable[int] | None = None, rerank: bool = True,
    collection_ids: Iterable[int] | None = None,
) -> SearchResponse:
    """The top_k passages for query, best first, from dense and keyword search fused (as the
    backend's Tuning says), each page's best passage first, and (when rerank and a reranker is
    available) reordered by the cross-encoder.

    collection_ids: the collections the asker may read (documents.readable), None for no limit
    (internal callers only). The filter is applied inside each backend's dense and keyword search,
    so a selective filter still returns a full top_k, and checked again as the rows are fetched.

    Safe to call from many threads. Raises IndexModelMismatch when the query embedder is not
    the model the index was built with, SearchError when no index can be loaded."""
    started = time.perf_counter()
    timings: dict[str, float] = {}
    backend = search_backend()
    index = backend.searcher()
    if index is None or index.empty or top_k <= 0 or not query.strip():
        timings["total"] = round((time.perf_counter() - started) * 1000, 3)
        return SearchResponse([], False, index.version if index else None, timings=timings)
    if document_ids is not None:
        document_ids = list(document_ids)
    if collection_ids is not None:
        collection_ids = list(collection_ids)
        document_ids = _admitted_documents(collection_ids, document_ids)
    tuning = backend.tuning
    found = _retrieve(index, query, tuning=tuning, depth=top_k, document_ids=document_ids,
                      collection_ids=collection_ids, timings=timings)
    top_n = tuning.rerank_top_n if rerank else 0
    rows = found.rows
    head = _pages(found.fused, tuning, rows)[: max(top_k, top_n)]

    mark = time.perf_counter()
    reranked, rerank_error, reranker_model = False, "", ""
    rerank_scores: dict[int, tuple[float, int]] = {}  # chunk id -> (score, 1-based place)
    if rerank and head and top_n > 0:
        state = get_reranker()
        reranker_model, rerank_error = state.model, state.error
        if state.reranker is not None:
            order = _reranked(state.reranker, query, head[:top_n], rows)
            rerank_scores = {item.key: (score, place) for place, (item, score) in enumerate(order, start=1)}
            head = [item for item, _ in order] + head[top_n:]
            reranked = True
    timings["rerank"] = round((time.perf_counter() - mark) * 1000, 3)

    results = [_result(rows[item.key], item, rerank_scores.get(item.key)) for item in head[:top_k]]
    timings["total"] = round((time.perf_counter() - started) * 1000, 3)
    return SearchResponse(results, reranked, index.version, rerank_error, reranker_model, timings, found.vector)


def _result(row: _Row, item: Fused, reranked: tuple[float, int] | None) -> SearchResult:
    file_url = document_storage.url(row.file_name) if row.file_name else ""
    return SearchResult(
        chunk_id=row.pk,
        document_id=row.document_id,
        title=row.title,
        original_filename=row.original_filename,
        file_url=file_url,
        page=row.page,
        text=row.text,
        ocr=row.ocr,
        score=reranked[0] if reranked else item.score,
        fused_score=item.score,
        rerank_score=reranked[0] if reranked else None,
        dense_rank=item.ranks[0],
        bm25_rank=item.ranks[1],
        fused_rank=item.rank,
        rerank_rank=reranked[1] if reranked else None,
        sentence_vectors=bytes(row.sentence_embeddings or b""),
        format=row.format,
        section=row.section,
        anchor=row.anchor,
        url=citation_url(file_url=file_url, file_name=row.file_name, format_name=row.format, page=row.page,
                         anchor=row.anchor, chunk_id=row.pk),
    )


def search_warm_up() -> None:
    """Load what the first search would wait for: the index, the embedding model (one query
    through it) and the reranker."""
    chunk_search(query="warm up the search models", top_k=1, rerank=True)


def search_rankings(
    *, query: str, depth: int = 10, rerank: bool = True, collection_ids: Iterable[int] | None = None
) -> dict[str, list[int] | None]:
    """Chunk ids, best first, as ranked by dense search alone, BM25 alone, their fusion, and the
    fusion reranked ("reranked" is None when no reranker is available), within collection_ids as
    chunk_search filters them. For evaluation."""
    backend = search_backend()
    index = backend.searcher()
    if index is None or index.empty:
        return {"dense": [], "bm25": [], "fused": [], "reranked": [] if rerank else None}
    tuning = backend.tuning
    collection_ids = None if collection_ids is None else list(collection_ids)
    document_ids = None if collection_ids is None else _admitted_documents(collection_ids, None)
    found = _retrieve(index, query, tuning=tuning, depth=depth, document_ids=document_ids,
                      collection_ids=collection_ids, timings={})
    fused = _pages(found.fused, tuning, found.rows)
    reranked = None
    if rerank and (reranker := get_reranker().reranker) is not None:
        pool = fused[: max(tuning.rerank_top_n, depth)]
        reranked = [item.key for item, _ in _reranked(reranker, query, pool, found.rows)]
    # Each single list is served as the fusion is (deleted documents dropped, pages spread), so
    # the comparison measures the fusion alone.
    dense, bm25 = ([item.key for item in _pages([Fused(key, 0.0, place) for place, key in enumerate(ranked, 1)], tuning,
                                                found.rows)]
                   for ranked in (found.dense, found.bm25))
    fused = [item.key for item in fused]
    return {"dense": dense[:depth], "bm25": bm25[:depth], "fused": fused[:depth], "reranked": reranked}


def search_status(*, collection_ids: Iterable[int] | None = None) -> dict:
    """What the index and the reranker look like from this process. For an asker who reads only
    some collections (collection_ids), the counts are those of their collections' passages."""
    state = SearchIndexState.objects.filter(pk=1).first()
    index = None
    index_error = ""
    backend = search_backend()
    try:
        index = backend.searcher()
    except Exception as exc:
        index_error = str(exc)
    reranker = get_reranker()
    status = {
        "index_version": state.current_version if state else None,
        "loaded_version": index.version if index else None,
        "chunk_count": state.chunk_count if state else 0,
        "embedding_model": state.embedding_model if state else "",
        "dimension": state.dimension if state else 0,
        "built_at": state.built_at if state else None,
        "build_seconds": state.build_seconds if state else None,
        "skipped_chunks": getattr(index, "manifest", {}).get("skipped_chunks", {}),
        "bm25_backend": settings.RAGSITE_BM25["BACKEND"],
        "index_error": index_error,
        "rebuild_requested": bool(state and state.rebuild_requested),
        "building_since": state.building_since if state else None,
        "last_error": state.last_error if state else "",
        "failed_at": state.failed_at if state else None,
        "reranker_model": reranker.model,
        "reranker_loaded": reranker.loaded,
        "reranker_error": reranker.error,
        "search_backend": settings.RAGSITE_SEARCH_BACKEND["BACKEND"],
        **backend.status(),
    }
    return status | _status_counts(collection_ids, status)


def _status_counts(collection_ids: Iterable[int] | None, status: dict) -> dict:
    """The counts of search_status an asker who reads only collection_ids may see: those of the
    searchable passages of their collections (nothing replaced when they read every one)."""
    if collection_ids is None:
        return {}
    collection_ids = list(collection_ids)
    if _reads_every_collection(collection_ids):
        return {}
    searchable = _admitted_chunks(collection_ids).filter(document__indexed_generation=F("document__generation"))
    counts = {"chunk_count": searchable.count(), "skipped_chunks": {}}
    if "indexed_documents" in status:
        counts["indexed_documents"] = searchable.values("document_id").distinct().count()
    return counts
