"""How relevant each quotable unit of the passages is to the question (0..1).

Units are the corpus's (documents.text.units), words the search's tokens (documents.text.tokenize).
Words: BM25 over the candidate units, as search scores it (bm25s), divided by what the question
itself would score. Meaning: the embedding model's cosine between the question and a shortlist
of units (the best by words, and the first lines of the passage search ranked first, whose
answer may share no word with the question), by the vectors stored for them at ingest when there
are. A line that opens with an identifier the question names is that thing's definition in a
list of options or functions, and weighs more."""

from __future__ import annotations

import logging
import re
from typing import NamedTuple

import numpy as np

from documents.embedding import get_embedder, sentence_vectors_unpack
from documents.search.bm25 import bm25s_module, token_ids
from documents.text.tokenize import tokenize
from documents.text.units import Unit, meaning_text, units
from querying.extractive.weights import WEIGHTS, Weights
from querying.prompts import Passage

logger = logging.getLogger(__name__)

# A token the tokeniser kept whole with its inner punctuation: an identifier ("read.csv",
# "--quiet", "max_length"), not a plain word.
_IDENTIFIER = re.compile(r"\w\W+\w|^-+\w|_")


class Scores(NamedTuple):
    """The quotable units of the passages, how many of the question's words each holds (0..1) and
    its relevance (0..1), index by index."""

    candidates: list[Unit]
    words: np.ndarray
    relevance: np.ndarray


def keyword_relevance(question: list[str], candidates: list[list[str]], weights: Weights = WEIGHTS) -> np.ndarray:
    """BM25 of each candidate (a token list) for the question's tokens, divided by the score of
    the question itself, clipped to 0..1. The question is indexed beside the candidates, so a
    question word that no candidate holds weighs as much as the rarest word that one holds."""
    terms = list(dict.fromkeys(question))
    if not terms or not candidates:
        return np.zeros(len(candidates))
    ids, vocab = token_ids([*candidates, terms])
    retriever = bm25s_module().BM25(k1=weights.keyword_k1, b=weights.keyword_b)
    with np.errstate(invalid="ignore", divide="ignore"):
        retriever.index((ids, vocab), show_progress=False)
    scores = retriever.get_scores(terms)
    if scores[-1] <= 0:
        return np.zeros(len(candidates))
    return np.clip(scores[:-1] / scores[-1], 0.0, 1.0)


def score(
    question: str, passages: list[Passage], query_vector: np.ndarray | None = None, *,
    weights: Weights = WEIGHTS, semantic: bool = True,
) -> Scores:
    """The passages' quotable units scored for the question: by words, by meaning for the
    shortlist (`semantic`), more for a line that begins with an identifier the question names.
    query_vector: the question's embedding when search computed it (else it is embedded here)."""
    candidates = [unit for passage in passages for unit in units(passage.text, passage.number) if not unit.furniture]
    question_tokens = tokenize(question)
    if not question_tokens or not candidates:
        return Scores(candidates, np.zeros(len(candidates)), np.zeros(len(candidates)))
    candidate_tokens = [tokenize(unit.text) for unit in candidates]
    words = keyword_relevance(question_tokens, candidate_tokens, weights)
    relevance = words.copy()
    if semantic and weights.shortlist > 0:
        chosen = shortlist(candidates, words, weights)
        similarity = meaning(question, candidates, chosen, passages, query_vector, weights)
        if similarity is not None:
            for i, value in zip(chosen, similarity):
                relevance[i] = (1 - weights.meaning_share) * words[i] + weights.meaning_share * value
            scored = set(chosen)
            others = [i for i in range(len(candidates)) if i not in scored]
            relevance[others] = (1 - weights.meaning_share) * words[others]
    if weights.definition_boost:
        named = {token for token in question_tokens if _IDENTIFIER.search(token)}
        for i, tokens in enumerate(candidate_tokens):
            if tokens and tokens[0] in named:
                relevance[i] = min(1.0, relevance[i] + weights.definition_boost)
    return Scores(candidates, words, relevance)


def shortlist(candidates: list[Unit], words: np.ndarray, weights: Weights = WEIGHTS) -> list[int]:
    """The candidates weighed by meaning too: the best by words, then by the passages' order; and
    the first lines of the passage ranked first. Every candidate weighed by meaning answered fewer
    questions, even with stored vectors, where it costs nothing (Weights.shortlist)."""
    order = sorted(range(len(candidates)), key=lambda i: (-words[i], candidates[i].number, candidates[i].position))
    chosen = order[: weights.shortlist]
    first = min(unit.number for unit in candidates)
    firsts = [i for i, unit in enumerate(candidates) if unit.number == first and i not in chosen]
    return chosen + firsts[: weights.first_passage]


def _stored_vectors(candidates: list[Unit], passages: list[Passage], dimension: int) -> dict[int, np.ndarray]:
    """The vector stored at ingest for each candidate (by its index in candidates), for the
    passages that have them: one per unit that is not furniture, in order (documents.text.units)."""
    found = {}
    for passage in passages:
        mine = [i for i, unit in enumerate(candidates) if unit.number == passage.number]
        vectors = sentence_vectors_unpack(passage.sentence_vectors, dimension=dimension, count=len(mine))
        if vectors is not None:
            found.update(zip(mine, vectors))
    return found


def meaning(
    question: str, candidates: list[Unit], chosen: list[int], passages: list[Passage],
    query: np.ndarray | None = None, weights: Weights = WEIGHTS,
) -> np.ndarray | None:
    """How close in meaning each chosen candidate is to the question (0..1) with the corpus's
    embedding model, or None (words alone decide) when the model cannot be had. A candidate's
    vector is the one stored at ingest when its passage has them; only the rest go through
    the model. query: the question's vector as search computed it (in a search process, or
    remembered in this one)."""
    try:
        embedder = get_embedder()
        if query is None or len(query) != embedder.dimension:
            query = embedder.embed_query(question)
        known = _stored_vectors(candidates, passages, embedder.dimension)
        missing = [i for i in chosen if i not in known]
        if missing:
            texts = [meaning_text(candidates[i]) for i in missing]
            known.update(zip(missing, embedder.embed(texts, batch_size=weights.lines_per_batch)))
        vectors = np.stack([known[i] for i in chosen])
    except Exception as exc:  # the answer still comes, from words alone
        logger.warning("extractive answers use word overlap only: %s", exc)
        return None
    cosine = vectors @ query
    return np.clip((cosine - weights.cosine_floor) / weights.cosine_span, 0.0, 1.0)
