"""Hybrid search over the corpus: FAISS (exact inner product) and BM25, fused by Reciprocal Rank
Fusion and reranked by a cross-encoder, from an index rebuilt from the stored chunk vectors into
versioned folders that every serving process follows.

    from documents.search import chunk_search, index_rebuild_request, search_status

Modules: tokenize, fusion, metrics (pure code); bm25 and rerank (backends from settings);
index (the files of one version); services (rebuilds); serving (the version this process
answers from); selectors (chunk_search, search_status); api and urls (the JSON endpoints).
"""

from documents.search.errors import IndexModelMismatch, SearchError

# Imported on first use, so that the pure modules (tokenize, fusion, metrics) load without Django.
_LAZY = {
    "chunk_search": "documents.search.selectors",
    "search_status": "documents.search.selectors",
    "SearchResult": "documents.search.selectors",
    "SearchResponse": "documents.search.selectors",
    "index_rebuild_request": "documents.search.services",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'documents.search' has no attribute {name!r}")


__all__ = [
    "chunk_search",
    "index_rebuild_request",
    "search_status",
    "SearchResult",
    "SearchResponse",
    "SearchError",
    "IndexModelMismatch",
]
