"""The extractive provider: no language model. It serves querying.extractive's answer, quoted from
`prompt.passages` (see base.py), word by word."""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from typing import AsyncIterator

import numpy as np

from querying.extractive import WEIGHTS, Extractor
from querying.extractive.guards import NAME_RULES, VALUE_RULES
from querying.extractive.scoring import Scores
from querying.llm.base import LLMProvider, Passage, Prompt, Usage


class ExtractiveProvider(LLMProvider):
    """Answers from the passages themselves: the sentences or lines that best match the question,
    cited [n], or a plain refusal (querying.extractive).

    Options, each default measured on the development questions (querying.extractive.weights):
    `max_sentences` (places quoted at most), `min_relevance` (0..1, below which it says it found
    nothing), `semantic` (weigh meaning with the embedding model, not words alone), `shortlist`
    (how many candidates, the best by words, are weighed for meaning: the cost of an answer),
    `first_passage` (how many lines of the passage search ranked first are weighed for meaning
    besides, whatever their words), `rank_prior` (a unit of passage n counts 1 / (1 + rank_prior *
    (n - 1))), `definition_boost` (added to the relevance of a line that begins with an identifier
    the question names), `next_sentences` (how many following sentences that refer back a quoted
    sentence reads on through), `require_names` (refuse when the passages never mention a name
    the question asks about, or mention its names only apart), `require_value` (refuse when the
    question asks for a price, a date, a count, a limit or a telephone number and what would be
    quoted gives none) and `words_per_second` to pace the stream (0: no pause)."""

    name = "extractive"
    quotes = True

    def __init__(
        self,
        max_sentences: int = WEIGHTS.max_sentences,
        min_relevance: float = WEIGHTS.min_relevance,
        semantic: bool = True,
        shortlist: int = WEIGHTS.shortlist,
        first_passage: int = WEIGHTS.first_passage,
        rank_prior: float = WEIGHTS.rank_prior,
        definition_boost: float = WEIGHTS.definition_boost,
        next_sentences: int = WEIGHTS.next_sentences,
        require_names: bool = True,
        require_value: bool = True,
        words_per_second: float = 0,
        **budgets,
    ):
        super().__init__(**budgets)
        weights = replace(
            WEIGHTS, max_sentences=max_sentences, min_relevance=min_relevance, shortlist=shortlist,
            first_passage=first_passage, rank_prior=rank_prior, definition_boost=definition_boost,
            next_sentences=next_sentences,
        )
        rules = (NAME_RULES if require_names else ()) + (VALUE_RULES if require_value else ())
        self.extractor = Extractor(weights, semantic=semantic, rules=rules)
        self.words_per_second = words_per_second

    def score(self, question: str, passages: list[Passage], query_vector: np.ndarray | None = None) -> Scores:
        return self.extractor.score(question, passages, query_vector)

    def answer(
        self, question: str, passages: list[Passage], query_vector: np.ndarray | None = None, earlier: list[str] = (),
    ) -> str:
        return self.extractor.answer(question, passages, query_vector, earlier)

    def warm_up(self) -> None:
        self.extractor.warm_up()

    async def stream(self, prompt: Prompt, usage: Usage) -> AsyncIterator[str]:
        # Scoring embeds sentences (torch): off the event loop.
        earlier = [message["content"] for message in prompt.messages[:-1] if message["role"] == "assistant"]
        text = await asyncio.to_thread(
            self.answer, prompt.search_query or prompt.question, prompt.passages, prompt.query_vector, earlier
        )
        words = re.findall(r"\S+\s*", text)
        for i, word in enumerate(words):
            if self.words_per_second and i:
                await asyncio.sleep(1 / self.words_per_second)
            yield word
        usage.update(input_tokens=0, output_tokens=len(words))
