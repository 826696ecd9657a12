"""Text as ingest, search and answers all read it. Pure code: no ORM, no settings, no model.

- normalise: what a page's raw text becomes (NFKC, hyphenated breaks joined, whitespace collapsed)
- chunking: sentences, and overlapping passages measured in the embedding model's tokens
- units: a passage's quotable sentences and lines (what an extractive answer may quote)
- tokenize: the one keyword tokeniser (BM25 at build and query time, highlights, rewrites)
"""
