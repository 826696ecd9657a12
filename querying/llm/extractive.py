"""The extractive provider: no language model. It answers with the sentences of the retrieved
passages that best match the question, each cited [n], and says plainly when none does.

It answers from `prompt.passages` (see base.py). Sentences are the chunker's
(documents.chunking.sentence_spans), words the search's tokens (documents.search.tokenize), and
keyword relevance is BM25 as search scores it (bm25s) over the candidate sentences, divided by
what the question itself would score, times a prior that favours passages the retrieval ranked
higher."""

from __future__ import annotations

import asyncio
import logging
import re
import unicodedata
from typing import AsyncIterator

import numpy as np

from documents.chunking import sentence_spans
from documents.embedding import get_embedder
from documents.search.bm25 import bm25s_module, token_ids
from documents.search.tokenize import tokenize
from querying.llm.base import LLMProvider, Passage, Prompt, Usage
from querying.prompts import NOT_FOUND

logger = logging.getLogger(__name__)

_CLOSED = re.compile(r"[.!?。！？;:;)\]\"'»”…؟।]$")
_BULLET = re.compile(r"^[•·▪\-–]\s+")


def sentences(text: str) -> list[str]:
    """A passage split into sentences, whitespace tidied, fragments and headings dropped."""
    out = []
    for start, end in sentence_spans(text):
        part = _BULLET.sub("", " ".join(text[start:end].split()))
        words = len(part.split())
        if not part or (words < 6 and not _CLOSED.search(part)):
            continue  # a fragment, or a heading (short, no closing punctuation): not an answer
        if words >= 3 or len(tokenize(part)) >= 4:  # a short sentence in a script without spaces
            out.append(part)
    return out


def keyword_relevance(question: list[str], candidates: list[list[str]]) -> np.ndarray:
    """BM25 of each candidate (a token list) for the question's tokens, divided by the score of
    the question itself, clipped to 0..1. The question is indexed beside the candidates, so a
    question word that no candidate holds weighs as much as the rarest word that one holds."""
    terms = list(dict.fromkeys(question))
    if not terms or not candidates:
        return np.zeros(len(candidates))
    ids, vocab = token_ids([*candidates, terms])
    retriever = bm25s_module().BM25(k1=1.2, b=0.5)
    with np.errstate(invalid="ignore", divide="ignore"):
        retriever.index((ids, vocab), show_progress=False)
    scores = retriever.get_scores(terms)
    if scores[-1] <= 0:
        return np.zeros(len(candidates))
    return np.clip(scores[:-1] / scores[-1], 0.0, 1.0)


class ExtractiveProvider(LLMProvider):
    """Answers from the passages themselves. Options: `max_sentences` kept (at most 3 by default),
    `min_relevance` below which it says it found nothing (0..1), `semantic` to weigh in the
    embedding model's similarity between the question and each sentence (so "How far does the
    radio reach?" finds "The radio range is 150 metres" with no word in common), and
    `words_per_second` to pace the stream (0: no pause)."""

    name = "extractive"

    def __init__(self, max_sentences: int = 3, min_relevance: float = 0.3, semantic: bool = True, words_per_second: float = 0):
        self.max_sentences = max_sentences
        self.min_relevance = min_relevance
        self.semantic = semantic
        self.words_per_second = words_per_second

    def answer(self, question: str, passages: list[Passage]) -> str:
        """The extractive answer, citations included."""
        candidates = [  # (passage number, position, text)
            (passage.number, position, sentence)
            for passage in passages
            for position, sentence in enumerate(sentences(passage.text))
        ]
        question_tokens = tokenize(question)
        if not question_tokens or not candidates:
            return NOT_FOUND
        coverage = keyword_relevance(question_tokens, [tokenize(c[2]) for c in candidates])
        similarity = self._similarity(question, [c[2] for c in candidates])
        scored = []
        for index, (number, position, sentence) in enumerate(candidates):
            # Relevance mixes the share of the question's words the sentence holds with how much
            # closer in meaning it is than the typical candidate (see _similarity).
            words = float(coverage[index])
            relevance = words if similarity is None else 0.5 * words + 0.5 * similarity[index]
            if relevance <= 0:
                continue
            prior = 1 / (1 + 0.1 * (number - 1))
            scored.append((relevance, relevance * prior + 0.02 * words, words, number, position, sentence))
        if not scored or max(s[0] for s in scored) < self.min_relevance:
            return NOT_FOUND
        scored.sort(key=lambda s: s[1], reverse=True)
        best = scored[0][1]
        chosen, seen = [], set()
        for relevance, score, words, number, position, sentence in scored:
            key = unicodedata.normalize("NFKC", sentence).casefold()
            if key in seen:  # overlapping chunks repeat sentences
                continue
            if chosen and (score < 0.6 * best or relevance < self.min_relevance):
                break
            if chosen and not words:
                continue  # meaning alone may find the answer, but not add to it
            seen.add(key)
            chosen.append((number, position, sentence))
            if len(chosen) >= self.max_sentences:
                break
        chosen.sort()  # in source order, and in reading order within a source
        return " ".join(f"{sentence} [{number}]" for number, position, sentence in chosen)

    def _similarity(self, question: str, texts: list[str]):
        """Cosine similarity of the question to each text with the corpus's embedding model, or
        None (words alone decide) when semantic scoring is off or the model cannot be had."""
        if not self.semantic:
            return None
        try:
            embedder = get_embedder()
            vectors = embedder.embed([question, *texts])
        except Exception as exc:  # the answer still comes, from words alone
            logger.warning("extractive answers use word overlap only: %s", exc)
            return None
        cosine = vectors[1:] @ vectors[0]
        # Measured against the median candidate, not zero: in scripts the model knows badly every
        # sentence looks alike to it, and then only words should count. A sentence 0.4 above the
        # median (or above 0.15, whichever is higher) counts as a full match.
        baseline = max(0.15, float(np.median(cosine)))
        return np.clip((cosine - baseline) / 0.4, 0.0, 1.0)

    async def stream(self, prompt: Prompt, usage: Usage) -> AsyncIterator[str]:
        # Scoring embeds sentences (torch): off the event loop.
        text = await asyncio.to_thread(self.answer, prompt.question, prompt.passages)
        words = re.findall(r"\S+\s*", text)
        for i, word in enumerate(words):
            if self.words_per_second and i:
                await asyncio.sleep(1 / self.words_per_second)
            yield word
        usage.update(input_tokens=0, output_tokens=len(words))
