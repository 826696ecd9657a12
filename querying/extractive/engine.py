"""The extractive answer as one object: scoring, the guards, the quote."""

from __future__ import annotations

import numpy as np

from documents.text.units import units
from querying.extractive import guards, scoring
from querying.extractive.quoting import quote, said_text
from querying.extractive.weights import WEIGHTS, Weights
from querying.prompts import NOT_FOUND, Passage


class Extractor:
    """Answers a question from its passages with their own words (see querying.extractive).

    `weights`: every number it judges by (querying.extractive.weights). `semantic`: weigh the
    embedding model's similarity for the shortlist, not words alone. `rules`: the guards that
    may refuse, applied in order (querying.extractive.guards)."""

    def __init__(
        self, weights: Weights = WEIGHTS, *, semantic: bool = True,
        rules: tuple[guards.Rule, ...] = guards.NAME_RULES + guards.VALUE_RULES,
    ):
        self.weights = weights
        self.semantic = semantic
        self.rules = rules

    def score(self, question: str, passages: list[Passage], query_vector: np.ndarray | None = None) -> scoring.Scores:
        """The passages' quotable units, how many of the question's words each holds and its
        relevance (querying.extractive.scoring)."""
        return scoring.score(question, passages, query_vector, weights=self.weights, semantic=self.semantic)

    def answer(
        self, question: str, passages: list[Passage], query_vector: np.ndarray | None = None, earlier: list[str] = (),
    ) -> str:
        """The answer, each quoted place cited [n]; a refusal that says what is missing; or
        NOT_FOUND when nothing in the passages is relevant enough. query_vector: the question's
        embedding when search computed it. `earlier`: the conversation's earlier answers, whose
        quotes a follow-up does not repeat while anything else relevant is there to quote."""
        said = said_text("\n".join(earlier))

        def quoted():
            scores = self.score(question, passages, query_vector)
            return (said and quote(scores, self.weights, said=said)) or quote(scores, self.weights)

        draft = guards.Draft(question, passages, quoted, self.weights)
        refused = guards.refusal(self.rules, draft)
        if refused is not None:
            return refused
        return NOT_FOUND if draft.quote is None else draft.quote.text

    def warm_up(self) -> None:
        """Load the embedding model now, when meaning is weighed, rather than for the first answer."""
        if self.semantic and self.weights.shortlist > 0:
            passage = Passage(1, 0, 0, "", 1, "A sentence to warm up the embedding model.", 1.0)
            scoring.meaning("warm up the embedding model", units(passage.text, 1), [0], [passage], weights=self.weights)
