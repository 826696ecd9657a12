"""Keyword search backends. settings.RAGSITE_BM25 picks one; both score with Okapi BM25 over the
tokens of documents.text.tokenize.

- BM25sBackend (default): bm25s keeps the scores in a sparse matrix saved to disk and
  memory-mapped, so a serving process loads it in milliseconds and shares its pages with the
  other processes (about 14 ms a query at 100k chunks here).
- RankBM25Backend: rank-bm25, the reference implementation: pure Python token lists rebuilt in
  every process (about 113 ms a query and 2 GB a process at 100k chunks). Kept for comparison.
"""

import json
import logging
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)


class BM25Scorer:
    """A loaded keyword index: scores every passage for a query's tokens."""

    def scores(self, tokens: list[str]) -> np.ndarray:
        """float32 BM25 score of each passage, in build order (0 where no token matches)."""
        raise NotImplementedError

    def top(self, tokens: list[str], k: int, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Positions and scores of the k best passages with a score above 0, best first; mask, a
        boolean array over the passages, keeps only those where it is True."""
        return top_positions(self.scores(tokens), k, mask)


def top_positions(scores: np.ndarray, k: int, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Positions and values of the k highest scores above 0, best first (ties in position
    order, so equal scores rank the same way every time); mask keeps only positions where it is
    True."""
    if k <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    if mask is not None:
        scores = np.where(mask, scores, 0.0)
    candidates = np.flatnonzero(scores > 0)
    if candidates.size > k:
        candidates = candidates[np.argpartition(-scores[candidates], k - 1)[:k]]
    order = np.lexsort((candidates, -scores[candidates]))
    best = candidates[order]
    return best, scores[best]


class BM25Backend:
    """Builds a keyword index into a folder and opens it again."""

    name = ""

    def build(self, corpus_ids: list[list[int]], vocab: dict[str, int], directory: Path) -> None:
        """Index the passages, each given as the ids in vocab (token -> id, ids 0..len-1) of its
        tokens: one copy of each token string in memory, however large the corpus."""
        raise NotImplementedError

    def open(self, directory: Path) -> BM25Scorer:
        raise NotImplementedError


def bm25s_module():
    import bm25s

    # bm25s sets its own logger to DEBUG on import, which prints a line for every build.
    logging.getLogger("bm25s").setLevel(logging.WARNING)
    return bm25s


class _BM25sScorer(BM25Scorer):
    def __init__(self, retriever):
        self.retriever = retriever
        self.vocab = retriever.vocab_dict

    def scores(self, tokens):
        known = [token for token in tokens if token in self.vocab]
        if not known:
            return np.zeros(self.retriever.scores["num_docs"], dtype=np.float32)
        return self.retriever.get_scores(known)


class BM25sBackend(BM25Backend):
    name = "bm25s"

    def __init__(self, k1: float = 1.5, b: float = 0.75, method: str = "lucene"):
        self.k1, self.b, self.method = k1, b, method

    def build(self, corpus_ids, vocab, directory):
        bm25s = bm25s_module()
        if not vocab:  # bm25s cannot index an empty vocabulary (a corpus of punctuation only)
            vocab = {"\x00": 0}
        retriever = bm25s.BM25(k1=self.k1, b=self.b, method=self.method)
        with np.errstate(invalid="ignore", divide="ignore"):  # average length 0 when no passage has a token
            retriever.index((corpus_ids, dict(vocab)), show_progress=False)
        retriever.save(str(directory), show_progress=False)

    def open(self, directory):
        bm25s = bm25s_module()
        return _BM25sScorer(bm25s.BM25.load(str(directory), mmap=True, show_progress=False, verbosity=0))


class _RankBM25Scorer(BM25Scorer):
    def __init__(self, model):
        self.model = model

    def scores(self, tokens):
        if not tokens:
            return np.zeros(self.model.corpus_size, dtype=np.float32)
        return np.asarray(self.model.get_scores(tokens), dtype=np.float32)


class RankBM25Backend(BM25Backend):
    name = "rank-bm25"

    def __init__(self, k1: float = 1.5, b: float = 0.75, epsilon: float = 0.25):
        self.k1, self.b, self.epsilon = k1, b, epsilon

    def build(self, corpus_ids, vocab, directory):
        directory.mkdir(parents=True, exist_ok=True)
        words = [""] * len(vocab)
        for token, token_id in vocab.items():
            words[token_id] = token
        with open(directory / "tokens.jsonl", "w", encoding="utf-8") as handle:
            for ids in corpus_ids:
                handle.write(json.dumps([words[i] for i in ids], ensure_ascii=False) + "\n")

    def open(self, directory):
        from rank_bm25 import BM25Okapi

        with open(directory / "tokens.jsonl", encoding="utf-8") as handle:
            corpus_tokens = [json.loads(line) for line in handle]
        return _RankBM25Scorer(BM25Okapi(corpus_tokens, k1=self.k1, b=self.b, epsilon=self.epsilon))


def token_ids(corpus_tokens, vocab: dict[str, int] | None = None) -> tuple[list[list[int]], dict[str, int]]:
    """Turn token lists into id lists, growing vocab (token -> id) as new tokens appear."""
    vocab = {} if vocab is None else vocab
    ids = [[vocab.setdefault(token, len(vocab)) for token in tokens] for tokens in corpus_tokens]
    return ids, vocab
