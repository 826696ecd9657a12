"""Where the passages are searched: settings.RAGSITE_SEARCH_BACKEND names one backend, and its
OPTIONS tune the search that every backend shares (documents.search.selectors).

Each backend answers one question for chunk_search: the candidates of a query, each with its
dense score (cosine) and its keyword score, and the two rankings they came from. Fusion, page
spreading, fetching and reranking are the same for every backend, tuned by `Tuning`.

- documents.search.embedded.EmbeddedIndexBackend (the default): a FAISS + bm25s index in files
  under RAGSITE_INDEX_ROOT, rebuilt from the stored chunks after each change and loaded by every
  process that searches.
- documents.search.postgres.PostgresBackend: the vectors in a pgvector column with an HNSW index
  and the keyword side in PostgreSQL full-text search, written in the transaction that swaps a
  document's chunks in; nothing to rebuild, nothing held in the web processes.
"""

from dataclasses import dataclass
from typing import Callable, Iterable, Protocol

import numpy as np
from django.core.exceptions import ImproperlyConfigured

from documents.backends import backend


@dataclass
class Candidates:
    """A query's candidates: the union of the dense and the keyword top k, dense first."""

    keys: list[int]  # chunk ids
    dense: list[float]  # the cosine of each with the query
    keyword: list[float]  # the keyword score of each (0 where no query token occurs)
    dense_ranked: list[int]  # the dense top k, best first
    keyword_ranked: list[int]  # the keyword top k (score above 0), best first


@dataclass(frozen=True)
class Tuning:
    """How dense and keyword search are fused, measured with `manage.py evaluate` on the
    development split of eval/questions.jsonl (docs/search.md has the tables; the held-out split
    was measured once after each choice)."""

    # Passages taken from each of dense and keyword search before fusion.
    candidates: int = 50
    # "score": z-scores of cosine and BM25 over the candidates, mixed by dense_weight (recall@5
    # 0.886 dev / 0.900 held out, against 0.823 / 0.900 for "rrf": Reciprocal Rank Fusion at rrf_k).
    fusion: str = "score"
    # The dense share of the score fusion: 0.5 with stemmed keywords (MRR@10 0.809, against 0.802
    # at 0.4 and 0.795 at 0.6); 0.7 and above lost identifier questions.
    dense_weight: float = 0.5
    # Scale dense_weight by how much of the query the embedding model reads as words it knows
    # (Embedder.vocabulary_coverage): an English-only model cuts Russian into letters, and keywords
    # then decide (Russian recall@5 0.727 -> 0.818 on dev, English unchanged).
    dense_by_coverage: bool = True
    # Of the meaning part, the share scored by each passage's best sentence (vectors stored at
    # ingest) rather than the whole passage: 0.4 gave recall@5 0.924 / MRR@10 0.827 on dev
    # against 0.911 / 0.809 at 0; held out 0.975 / 0.763 against 0.925 / 0.743.
    sentence_share: float = 0.4
    rrf_k: int = 60
    # Each page's best passage before a second passage of any page (recall@5 +0.04 on dev).
    spread_pages: bool = True
    # Fused passages the cross-encoder scores (about 45 ms each on 2 CPU cores).
    rerank_top_n: int = 20

    def __post_init__(self):
        if self.fusion not in {"score", "rrf"}:
            raise ImproperlyConfigured(
                f"settings.RAGSITE_SEARCH_BACKEND fusion option must be 'score' or 'rrf', got {self.fusion!r}"
            )
        for name in ("dense_weight", "sentence_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ImproperlyConfigured(
                    f"settings.RAGSITE_SEARCH_BACKEND {name} option must lie between 0 and 1, got {getattr(self, name)!r}"
                )


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
    """Base of the search backends. OPTIONS that are Tuning's fields tune the shared search; the
    rest go to the backend itself."""

    name = ""

    def __init__(self, **tuning):
        self.tuning = Tuning(**tuning)

    def searcher(self) -> Searcher | None:
        """What a query searches now; None when nothing was ever indexed."""
        raise NotImplementedError

    def index_chunks(self, *, chunk_ids: Iterable[int], document_id: int | None = None, generation: int = 0) -> None:
        """Make these stored chunks searchable as they now are, inside the caller's transaction:
        called where a document's generation is swapped in (document_id and generation given)
        and where vectors are embedded again. Chunks deleted stop being searchable with their
        rows. A backend that rebuilds its index after changes does nothing here."""

    def refresh(self, *, in_process: bool = False) -> None:
        """Bring search up to date with the chunks committed so far, after an ingest, a delete or
        a re-embedding: in this process and before returning (in_process), or by the worker soon
        after. A backend that indexes in index_chunks has nothing to do."""

    def rebuild_pending(self) -> int | None:
        """Do what a refresh asked of the worker and was not done yet (the periodic sweep)."""
        return None

    def fill(self, *, progress: Callable[[str], None] = lambda line: None) -> int:
        """Bring the backend up to date with every current chunk (after switching backends);
        returns the number of chunks searchable."""
        raise NotImplementedError

    def status(self) -> dict:
        """Backend-specific figures for search_status."""
        return {}


def search_backend() -> SearchBackend:
    return backend("RAGSITE_SEARCH_BACKEND")
