"""The extractive provider: no language model. It answers with the sentences of the retrieved
passages that best match the question, each cited [n], and says plainly when none does.

It needs the passages themselves, so it reads the optional `sources=` keyword (see base.py); the
question is the last message. Scoring is BM25 over the candidate sentences (so words common to
all of them weigh little), normalised by what a perfect match would score, times a prior that
favours passages the retrieval ranked higher. Words are Unicode word runs; scripts written without
spaces (Chinese, Japanese, Thai, ...) are split into character bigrams."""

from __future__ import annotations

import logging
import math
import re
import time
import unicodedata
from collections import Counter
from typing import Iterator

import numpy as np

from querying.llm.base import LLMProvider
from querying.prompts import NOT_FOUND

logger = logging.getLogger(__name__)

# Sentence ends: Latin, CJK, Arabic, Devanagari punctuation; blank lines and bullets. A line
# break is looked for only where a run of whitespace starts (from inside a long run, quadratic).
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+(?=[\"'(\[]?[^\s\"'(\[a-z])|(?<=[。！？；؟।])\s*|(?<!\s)\s*\n\s*(?:[•·▪\-–]\s+)?")
_CLOSED = re.compile(r"[.!?。！？;:;)\]\"'»”…؟।]$")
_WORD = re.compile(r"\w+", re.UNICODE)
_UNSPACED = re.compile(
    "[\u0e00-\u0e7f\u0e80-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3100-\u312f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]"
)
_STOPWORDS = frozenset(
    """a an and are as at be been but by can could did do does for from had has have how i if in into is it its
    me my no not of on or our so than that the their them then there these they this those to was we were what
    when where which who whom whose why will with would you your about also any all there here please tell explain
    describe many much le la les un une des du de et est sont que qui quoi pour dans sur avec der die das ein eine und ist
    sind was wer wie wo mit von zu el los las una unos y es son qué que cómo para con por en il lo gli di che è
    o e""".split()
)


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def terms(text: str) -> list[str]:
    """Index terms of a text: folded words without stopwords, CJK/Thai as character bigrams."""
    out = []
    for word in _WORD.findall(_fold(text)):
        if _UNSPACED.search(word):
            chars = [c for c in word]
            out.extend(chars[i] + chars[i + 1] for i in range(len(chars) - 1))
            if len(chars) == 1:
                out.append(chars[0])
        elif word not in _STOPWORDS and not (len(word) == 1 and word.isascii() and not word.isdigit()):
            # A light, language-blind stem: plural -s and -es endings.
            if len(word) > 4 and word.endswith("es") and not word.endswith("ses"):
                word = word[:-2]
            elif len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
                word = word[:-1]
            out.append(word)
    return out


def sentences(text: str) -> list[str]:
    """A passage split into sentences, whitespace tidied, fragments and headings dropped."""
    out = []
    for part in _SENTENCE_END.split(text):
        part = " ".join((part or "").split())
        words = len(part.split())
        if not part or (words < 6 and not _CLOSED.search(part)):
            continue  # a fragment, or a heading (short, no closing punctuation): not an answer
        if words >= 3 or _UNSPACED.search(part) and len(part) >= 6:
            out.append(part)
    return out


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

    def answer(self, question: str, sources) -> str:
        """The extractive answer, citations included."""
        query = set(terms(question))
        candidates = []  # (passage number, position, text, terms)
        for passage in sources or []:
            for position, sentence in enumerate(sentences(passage.text)):
                candidates.append((passage.number, position, sentence, terms(sentence)))
        if not query or not candidates:
            return NOT_FOUND
        count = len(candidates)
        document_frequency = Counter(t for *_, sentence_terms in candidates for t in set(sentence_terms))
        average_length = sum(len(c[3]) for c in candidates) / count or 1.0
        # A question word no sentence holds weighs as much as the rarest word that some sentence holds.
        idf = {t: math.log(1 + (count - max(document_frequency[t], 1) + 0.5) / (max(document_frequency[t], 1) + 0.5)) for t in query}
        perfect = sum(idf.values()) or 1.0
        similarity = self._similarity(question, [c[2] for c in candidates])
        k1, b = 1.2, 0.5
        scored = []
        for index, (number, position, sentence, sentence_terms) in enumerate(candidates):
            frequency = Counter(sentence_terms)
            matched = [t for t in query if frequency[t]]
            coverage = sum(idf[t] for t in matched) / perfect
            length_norm = 1 - b + b * len(sentence_terms) / average_length
            bm25 = sum(idf[t] * frequency[t] * (k1 + 1) / (frequency[t] + k1 * length_norm) for t in matched)
            # Relevance mixes the share of the question's words the sentence holds with how much
            # closer in meaning it is than the typical candidate (see _similarity).
            relevance = coverage if similarity is None else 0.5 * coverage + 0.5 * similarity[index]
            if relevance <= 0:
                continue
            prior = 1 / (1 + 0.1 * (number - 1))
            scored.append((relevance, relevance * prior + 0.02 * bm25 / perfect, coverage, number, position, sentence))
        if not scored or max(s[0] for s in scored) < self.min_relevance:
            return NOT_FOUND
        scored.sort(key=lambda s: s[1], reverse=True)
        best = scored[0][1]
        chosen, seen = [], set()
        for relevance, score, coverage, number, position, sentence in scored:
            key = _fold(sentence)
            if key in seen:  # overlapping chunks repeat sentences
                continue
            if chosen and (score < 0.6 * best or relevance < self.min_relevance):
                break
            if chosen and not coverage:
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
            from documents.embedding import get_embedder

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

    def stream(self, system: str, messages: list[dict], *, sources=None, usage: dict | None = None) -> Iterator[str]:
        question = messages[-1]["content"] if messages else ""
        text = self.answer(question, sources)
        words = re.findall(r"\S+\s*", text)
        for i, word in enumerate(words):
            if self.words_per_second and i:
                time.sleep(1 / self.words_per_second)
            yield word
        if usage is not None:
            usage.update(input_tokens=0, output_tokens=len(words))
