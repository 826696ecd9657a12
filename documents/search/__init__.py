"""Hybrid search over the corpus: dense and keyword search, fused (by score or Reciprocal Rank
Fusion) and reranked by a cross-encoder. Where the passages are searched is a backend
(settings.RAGSITE_SEARCH_BACKEND): FAISS (exact inner product) and BM25 from an index rebuilt from
the stored chunk vectors into versioned folders that every serving process follows (embedded, the
default), or PostgreSQL with pgvector and full-text search, written with the chunks (postgres).

Reads: selectors (chunk_search, search_rankings, search_status) → backends (the base, Tuning) →
embedded (→ serving → index, bm25) or postgres; fusion, rerank, metrics and errors beside them.
Writes: services (what the corpus calls) → backends → embedded → rebuild (→ index) and tasks.
The JSON endpoints: api and urls.
"""
