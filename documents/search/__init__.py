"""Hybrid search over the corpus: FAISS (exact inner product) and BM25, fused by Reciprocal Rank
Fusion and reranked by a cross-encoder, from an index rebuilt from the stored chunk vectors into
versioned folders that every serving process follows.

Modules: tokenize, fusion, metrics (pure code); bm25 and rerank (backends from settings);
index (the files of one version); services (rebuilds) and tasks (the rebuild task); serving
(the version this process answers from); selectors (chunk_search, search_status); api and urls
(the JSON endpoints); errors.
"""
