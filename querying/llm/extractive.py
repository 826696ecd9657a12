"""The extractive provider: no language model. It answers with the sentences of the retrieved
passages that best match the question, each cited [n], and says plainly when none does.

It answers from `prompt.passages` (see base.py). Sentences and lines are the corpus's
(documents.text.units), their vectors those stored at ingest when there are, words the
search's tokens (documents.text.tokenize), and keyword relevance is BM25 as search scores it
(bm25s) over the candidate sentences, divided by what the question itself would score, times a
prior that favours passages the retrieval ranked higher."""

from __future__ import annotations

import asyncio
import logging
import re
import unicodedata
from typing import AsyncIterator

import numpy as np

from documents.embedding import get_embedder, sentence_vectors_unpack
from documents.text.units import CLOSED as _CLOSED
from documents.text.units import Unit, meaning_text, units
from documents.search.bm25 import bm25s_module, token_ids
from documents.text.tokenize import tokenize
from querying.llm.base import LLMProvider, Passage, Prompt, Usage
from querying.extractive.names import mentioned_together, question_names, unmentioned
from querying.extractive.values import counted, gives_value, question_value_kind, value_name
from querying.prompts import NOT_FOUND

logger = logging.getLogger(__name__)

# Candidate lines per forward pass of the embedding model, for passages stored without sentence
# vectors: each batch is padded to its own longest line, so small batches waste less on lines of
# uneven length (answer() p50 on 40 dev questions, one torch thread: 4 a batch 169 ms; 8: 173;
# 2: 172; one batch: 225; README "Search quality").
_LINES_PER_BATCH = 4
# A token the tokeniser kept whole with its inner punctuation: an identifier ("read.fwf",
# "--no-init-file", "save_default_options"), not a plain word.
_IDENTIFIER = re.compile(r"\w\W+\w|^-+\w|_")
# A sentence that refers back to the one before it (English): it opens with a pronoun or a
# demonstrative, or speaks of "such" things.
_REFERS_BACK = re.compile(
    r"^(?:this|these|that|those|it|its|they|their|such)\b|^(?:\w+\s+){1,2}(?:this|these)\b|\bsuch\b(?!\s+as\b)",
    re.IGNORECASE,
)


def _names_what_follows(unit: Unit) -> bool:
    """A heading or a signature line: short, not a sentence, not ended like one."""
    return not unit.sentence and len(unit.text.split()) <= 12 and not re.search(r"[.!?。！？]$", unit.text)


def sentences(text: str) -> list[str]:
    """A passage's whole sentences, fragments, headings and page furniture left out."""
    return [unit.text for unit in units(text) if unit.sentence and not unit.furniture]


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


class ExtractiveProvider(LLMProvider):
    """Answers from the passages themselves: the sentences or lines that best match the question,
    each with the heading or signature line just before it (a manual names a function or option
    there, then describes it) and the lines it leads to (a label's value, an introduced command),
    in reading order, cited [n]; and says plainly when none matches.

    Options: `max_sentences` (at most 3 quoted places by default), `min_relevance` below which it
    says it found nothing (0..1; measured on the development questions, see README), `semantic` to
    weigh in the embedding model's similarity between the question and the best-matching
    candidates (so "How far does the radio reach?" finds "The radio range is 150 metres" with no
    word in common), `shortlist` (how many candidates, the best by words, are embedded: the cost
    of an answer), `first_passage` (how many lines of the passage search ranked first are
    embedded besides, whatever their words: the sentence that answers often shares none with the
    question, "eps is the relative spacing between ... numbers" for "the smallest number I can add
    to 1.0"), `rank_prior` (how much a passage's place in the search order weighs: a unit of
    passage n counts 1 / (1 + rank_prior * (n - 1))), `definition_boost` (added to the relevance of
    a line that begins with an identifier the question names: in a manual's list of options or
    functions that line is its definition, "--no-init-file Don't read the initialization files
    ..."), `next_sentences` (a quoted sentence comes with up to this many sentences after it,
    while each refers back to the one before: "Sometimes data files have no field delimiters ..."
    then "Function read.fwf provides a simple way to read such files"), `require_names` (refuse
    when no passage mentions a name the question asks about, "Simulink" or "Parquet", or none
    mentions all the names it asks about together, "Octave" and "PostgreSQL", and say which:
    querying.extractive.names), `require_value` (refuse when the question asks for a price, a date, a
    count or a limit, "How many days ...?", and what would be quoted gives none:
    querying.extractive.values) and `words_per_second` to pace the stream (0: no pause). Each default
    was chosen on the development questions (README "Search quality")."""

    name = "extractive"

    def __init__(
        self,
        max_sentences: int = 3,
        min_relevance: float = 0.3,
        semantic: bool = True,
        shortlist: int = 8,
        first_passage: int = 8,
        rank_prior: float = 0.05,
        definition_boost: float = 0.2,
        next_sentences: int = 2,
        require_names: bool = True,
        require_value: bool = True,
        words_per_second: float = 0,
        **budgets,
    ):
        super().__init__(**budgets)
        self.max_sentences = max_sentences
        self.min_relevance = min_relevance
        self.semantic = semantic
        self.shortlist = shortlist
        self.first_passage = first_passage
        self.rank_prior = rank_prior
        self.definition_boost = definition_boost
        self.next_sentences = next_sentences
        self.require_names = require_names
        self.require_value = require_value
        self.words_per_second = words_per_second

    def score(
        self, question: str, passages: list[Passage], query_vector: np.ndarray | None = None
    ) -> tuple[list[Unit], np.ndarray, np.ndarray]:
        """The quotable units of the passages, how many of the question's words each holds (0..1),
        and its relevance (0..1: words and, for the shortlist, meaning; more for a line that
        begins with an identifier the question names). query_vector is the
        question's embedding when search computed it (else the question is embedded here)."""
        by_passage = [units(passage.text, passage.number) for passage in passages]
        candidates = [unit for found in by_passage for unit in found if not unit.furniture]
        question_tokens = tokenize(question)
        if not question_tokens or not candidates:
            return candidates, np.zeros(len(candidates)), np.zeros(len(candidates))
        candidate_tokens = [tokenize(unit.text) for unit in candidates]
        words = keyword_relevance(question_tokens, candidate_tokens)
        relevance = words.copy()
        if self.semantic and self.shortlist > 0:
            # Meaning is weighed for a shortlist only: the best by words, then by the passages'
            # order; and the first lines of the passage ranked first. Every candidate weighed by
            # meaning answered one dev question fewer (58/79), even with stored vectors, where it
            # costs nothing; without them, embedding every sentence of five passages takes ~0.5 s.
            order = sorted(range(len(candidates)), key=lambda i: (-words[i], candidates[i].number, candidates[i].position))
            chosen = order[: self.shortlist]
            first = min(unit.number for unit in candidates)
            chosen += [i for i, unit in enumerate(candidates) if unit.number == first and i not in chosen][: self.first_passage]
            similarity = self._similarity(question, candidates, chosen, passages, query_vector)
            if similarity is not None:
                for i, value in zip(chosen, similarity):
                    relevance[i] = 0.5 * words[i] + 0.5 * value
                scored = set(chosen)
                others = [i for i in range(len(candidates)) if i not in scored]
                relevance[others] = 0.5 * words[others]
        if self.definition_boost:
            named = {token for token in question_tokens if _IDENTIFIER.search(token)}
            for i, tokens in enumerate(candidate_tokens):
                if tokens and tokens[0] in named:
                    relevance[i] = min(1.0, relevance[i] + self.definition_boost)
        return candidates, words, relevance

    def answer(self, question: str, passages: list[Passage], query_vector: np.ndarray | None = None) -> str:
        """The extractive answer, citations included."""
        if self.require_names and passages:
            names = question_names(question)
            texts = [f"{p.title}\n{p.text}" for p in passages]
            missing = unmentioned(names, "\n".join(texts))
            if missing:
                return f"{NOT_FOUND} None of the passages found mentions {', '.join(f'“{name}”' for name in missing)}."
            if not mentioned_together(names, texts):
                both = ", ".join(f"“{name}”" for name in names[:-1]) + f" and “{names[-1]}”"
                return f"{NOT_FOUND} None of the passages found mentions {both} together."
        candidates, words, relevance = self.score(question, passages, query_vector)
        if not candidates or float(relevance.max(initial=0.0)) < self.min_relevance:
            return NOT_FOUND
        prior = np.array([1 / (1 + self.rank_prior * (unit.number - 1)) for unit in candidates])
        # Fragments (headings, table and code lines) may answer, but a sentence says more.
        kind = np.array([1.0 if unit.sentence else 0.85 for unit in candidates])
        score = relevance * prior * kind + 0.02 * words
        order = np.argsort(-score, kind="stable")
        best = float(score[order[0]])
        at = {(unit.number, unit.position): i for i, unit in enumerate(candidates)}
        anchors_at: dict[tuple[int, int], Unit] = {}
        context: dict[tuple[int, int], Unit] = {}  # quoted with the anchor beside it
        seen: set[str] = set()
        for i in order:
            unit = candidates[i]
            if anchors_at and (score[i] < 0.6 * best or relevance[i] < self.min_relevance or not words[i]):
                break
            if relevance[i] < self.min_relevance:  # none quoted yet: the best was a heading passed over
                continue
            key = unicodedata.normalize("NFKC", unit.text).casefold()
            place = (unit.number, unit.position)
            if key in seen or place in anchors_at or place in context:  # overlapping chunks repeat sentences
                continue
            after = at.get((unit.number, unit.position + 1))
            if (
                after is not None and not unit.sentence and not unit.text.endswith(":")
                and _CLOSED.search(candidates[after].text) and relevance[after] < self.min_relevance
            ):
                # A section heading, and the prose after it does not bear on the question ("Care,
                # Troubleshooting and Warranty", then "Clean the rain gauge funnel ..."): the
                # heading alone answers nothing. A label's value (an unpunctuated line: "Evergreen
                # Building No. 166, ...") still comes with its label below.
                continue
            seen.add(key)
            anchors_at[place] = unit
            # The line just before, when it is a heading or a signature ("nargin ()", "--no-gui"):
            # in a manual that is where the thing described is named.
            before = at.get((unit.number, unit.position - 1))
            if before is not None and _names_what_follows(candidates[before]):
                context[(unit.number, unit.position - 1)] = candidates[before]
            # The lines after (two at most): the next when this one introduces it ("use the left
            # division operator:") or is a label, heading or table cell whose value follows
            # ("Agreement No." then the number); and a next line that introduces another ("The
            # following command should be placed ...:") with the line it introduces, when it is a
            # sentence or shares a word with the question: not a label that opens a list of its
            # own ("See also:", "In the box:" after "The radio range is up to 150 metres").
            if after is not None and (
                unit.text.endswith(":") or not unit.sentence
                or (candidates[after].text.endswith(":") and (words[after] > 0 or len(candidates[after].text.split()) >= 5))
            ):
                context[(unit.number, unit.position + 1)] = candidates[after]
                introduced = at.get((unit.number, unit.position + 2))
                if introduced is not None and candidates[after].text.endswith(":"):
                    context[(unit.number, unit.position + 2)] = candidates[introduced]
            else:
                # A quoted sentence reads on while the next one refers back to it: "Sometimes data
                # files have no field delimiters ..." then "This was very common in the days of
                # punched cards ..." then "Function read.fwf provides a simple way to read such
                # files"; "... if its positive counterpart is prime." then "This is equivalent to
                # isprime (abs (x))."
                step = unit.position
                for _ in range(self.next_sentences):
                    following = at.get((unit.number, step + 1))
                    if following is None or not candidates[following].sentence:
                        break
                    if not _REFERS_BACK.search(candidates[following].text):
                        break
                    context[(unit.number, step + 1)] = candidates[following]
                    step += 1
            if len(anchors_at) >= self.max_sentences:
                break
        if not anchors_at:  # only headings matched, and their prose does not answer
            return NOT_FOUND
        for place in anchors_at:
            context.pop(place, None)
        parts, quoted_texts = [], []
        for key in sorted(anchors_at):  # in source order, and in reading order within a source
            number, position = key
            # popped: a line between two quoted places is quoted once, with the first
            before = context.pop((number, position - 1), None)
            quoted = [before, anchors_at[key]] if before is not None else [anchors_at[key]]
            while (after := context.pop((number, position + 1), None)) is not None:
                quoted.append(after)
                position += 1
            quoted_texts.append(" ".join(unit.text for unit in quoted))
            parts.append(f"{quoted_texts[-1]} [{number}]")
        text = " ".join(parts)
        value = question_value_kind(question) if self.require_value else None
        counts = counted(question) if value == "number" else []
        # The quoted words only: a citation's number "[2]" beside "page" gives no page limit.
        if value is not None and not gives_value(value, "\n".join(quoted_texts), counts):
            # The question asks for a price, a date or a count, and what matches it best gives
            # none: it is about the right thing, but the documents do not say.
            return f"{NOT_FOUND} The passages closest to it give no {value_name(value, counts)}."
        return text

    def warm_up(self) -> None:
        if self.semantic and self.shortlist > 0:
            passage = Passage(1, 0, 0, "", 1, "A sentence to warm up the embedding model.", 1.0)
            self._similarity("warm up the embedding model", units(passage.text, 1), [0], [passage])

    def _similarity(
        self, question: str, candidates: list[Unit], chosen: list[int], passages: list[Passage],
        query: np.ndarray | None = None,
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
                known.update(zip(missing, embedder.embed(texts, batch_size=_LINES_PER_BATCH)))
            vectors = np.stack([known[i] for i in chosen])
        except Exception as exc:  # the answer still comes, from words alone
            logger.warning("extractive answers use word overlap only: %s", exc)
            return None
        cosine = vectors @ query
        # all-MiniLM-L6-v2 puts unrelated sentences around 0.1-0.2 from a question and a sentence
        # that answers it at 0.5 or more: 0.15 counts as nothing, 0.55 as a full match.
        return np.clip((cosine - 0.15) / 0.4, 0.0, 1.0)

    async def stream(self, prompt: Prompt, usage: Usage) -> AsyncIterator[str]:
        # Scoring embeds sentences (torch): off the event loop.
        text = await asyncio.to_thread(
            self.answer, prompt.search_query or prompt.question, prompt.passages, prompt.query_vector
        )
        words = re.findall(r"\S+\s*", text)
        for i, word in enumerate(words):
            if self.words_per_second and i:
                await asyncio.sleep(1 / self.words_per_second)
            yield word
        usage.update(input_tokens=0, output_tokens=len(words))
