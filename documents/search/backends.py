"""Where the passages are searched: settings.RAGSITE_SEARCH_BACKEND names one of these.

Each backend answers one question for chunk_search: the candidates of a query, each with its
dense score (cosine) and its keyword score, and the two rankings they came from. Fusion, page
spreading, fetching and reranking are the same for every backend (documents.search.selectors).

- EmbeddedIndexBackend (the default): a FAISS + bm25s index in files under RAGSITE_INDEX_ROOT,
  rebuilt from the stored chunks after each change (documents.search.services) and loaded by
  every process that searches.
- documents.search.postgres.PostgresBackend: the vectors in a pgvector column with an HNSW index
  and the keyword side in PostgreSQL full-text search, written in the transaction that swaps a
  document's chunks in; nothing to rebuild, nothing held in the web processes.
"""

from dataclasses import dataclass
from typing import Callable, Iterable, Protocol

import numpy as np

from ragsite.backends import backend


@dataclass
class Candidates:
    """A query's candidates: the union of the dense and the keyword top k, dense first."""

    keys: list[int]  # chunk ids
    dense: list[float]  # the cosine of each with the query
    keyword: list[float]  # the keyword score of each (0 where no query token occurs)
    dense_ranked: list[int]  # the dense top k, best first
    keyword_ranked: list[int]  # the keyword top k (score above 0), best first


class Searcher(Protocol):
    """What one query searches: a fixed view of the backend for the query's whole life."""

    version: int | None  # the index version answered from, None where the backend has none
    empty: bool  # nothing to search
    embedding_model: str  # the model the indexed vectors came from ("" when unknown or empty)
    stems: bool  # its keyword side holds word stems: a query is tokenised with tokenize(stems=...)

    def candidates(
        self, vector: np.ndarray, tokens: list[str], *, k: int, document_ids: list[int] | None,
        lap: Callable[[str], None],
    ) -> Candidates:
        """The top k of each ranking (restricted to document_ids when given); calls lap("dense")
        and lap("bm25") as each side is done."""


class SearchBackend:
    """Base of the search backends."""

    # True: the index is derived data, rebuilt after changes (index_rebuild_request does the
    # work). False: chunks are indexed by index_chunks in the transaction that writes them.
    rebuilds = True

    def searcher(self) -> Searcher | None:
        """What a query searches now; None when nothing was ever indexed."""
        raise NotImplementedError

    def index_chunks(self, *, chunk_ids: Iterable[int]) -> None:
        """Make these stored chunks searchable as they now are, inside the caller's transaction
        (a generation swapped in, vectors embedded again). Chunks deleted stop being searchable
        with their rows."""

    def fill(self, *, progress: Callable[[str], None] = lambda line: None) -> int:
        """Bring the backend up to date with every current chunk (after switching backends);
        returns the number of chunks searchable."""
        raise NotImplementedError

    def status(self) -> dict:
        """Backend-specific figures for search_status."""
        return {}


class EmbeddedIndexBackend(SearchBackend):
    """FAISS + bm25s index folders, rebuilt from the stored chunks (the embedded default)."""

    name = "embedded"
    rebuilds = True

    def searcher(self):
        from documents.search import serving

        return serving.current_index()

    def fill(self, *, progress=lambda line: None) -> int:
        from documents.search.services import index_rebuild_request, index_state

        index_rebuild_request(in_process=True)
        return index_state().chunk_count


def search_backend() -> SearchBackend:
    return backend("RAGSITE_SEARCH_BACKEND")
