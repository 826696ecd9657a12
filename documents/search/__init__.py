"""Hybrid search over the corpus: dense and keyword search, fused (by score or Reciprocal Rank
Fusion) and reranked by a cross-encoder. Where the passages are searched is a backend
(settings.RAGSITE_SEARCH_BACKEND): FAISS (exact inner product) and BM25 from an index rebuilt from
the stored chunk vectors into versioned folders that every serving process follows (the default),
or PostgreSQL with pgvector and full-text search, written with the chunks (postgres).

Modules: tokenize, fusion, metrics (pure code); backends and postgres (where passages are searched),
bm25 and rerank (backends from settings);
index (the files of one version); services (rebuilds) and tasks (the rebuild task); serving
(the version this process answers from); selectors (chunk_search, search_status); api and urls
(the JSON endpoints); processes and child (searches in processes of their own); errors.
"""
