"""What the extractive answer quotes, once its units are scored (querying.extractive.scoring).

The best units, by relevance times a prior for the passage's place in the search order (a
sentence counting more than a fragment), while each is close enough to the best; each with what
belongs to it: the heading or signature line just before it (where a manual names the function
or option it describes), the lines it leads to (a label's value, an introduced command, a
sentence that introduces one) or else the following sentences while each refers back to the one
before. Quoted in reading order, each place cited [n]."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import numpy as np

from documents.text.units import CLOSED, Unit, units
from querying.extractive import lexicon
from querying.extractive.scoring import Scores
from querying.extractive.weights import WEIGHTS, Weights

# A sentence that refers back to the one before it: it opens with a pronoun or a demonstrative,
# or speaks of "such" things (data/en.toml).
_REFERS_BACK = lexicon.pattern("en", "refers_back", "pattern")
_ENDS_A_SENTENCE = re.compile(r"[.!?。！？]$")

Place = tuple[int, int]  # a unit's passage number and its position in the passage


def sentences(text: str) -> list[str]:
    """A passage's whole sentences, fragments, headings and page furniture left out."""
    return [unit.text for unit in units(text) if unit.sentence and not unit.furniture]


@dataclass
class Quote:
    """What the answer quotes: each place's text with its passage's number, in reading order."""

    parts: list[tuple[int, str]]

    @property
    def texts(self) -> list[str]:
        """The quoted words alone, without their citations."""
        return [text for _, text in self.parts]

    @property
    def text(self) -> str:
        """The answer: each place cited [n]."""
        return " ".join(f"{text} [{number}]" for number, text in self.parts)


def said_text(text: str) -> str:
    """Text as quotes are compared: Unicode forms and case aside."""
    return unicodedata.normalize("NFKC", text).casefold()


def quote(scores: Scores, weights: Weights = WEIGHTS, *, said: str = "") -> Quote | None:
    """The places to quote, best first, while each scores at least a share of the best and is
    relevant; None when no unit is relevant enough. A unit `said` holds already (the earlier
    answers of a conversation, folded: said_text) is not quoted again."""
    candidates, words, relevance = scores
    if not candidates or float(relevance.max(initial=0.0)) < weights.min_relevance:
        return None
    prior = np.array([1 / (1 + weights.rank_prior * (unit.number - 1)) for unit in candidates])
    # Fragments (headings, table and code lines) may answer, but a sentence says more.
    kind = np.array([1.0 if unit.sentence else weights.fragment_weight for unit in candidates])
    score = relevance * prior * kind + weights.words_tiebreak * words
    order = np.argsort(-score, kind="stable")
    best = float(score[order[0]])
    places = _Places(scores, weights, said)
    for i in order:
        if places.anchors and (
            score[i] < weights.cut_share_of_best * best or relevance[i] < weights.min_relevance or not words[i]
        ):
            break
        if places.take(i) and len(places.anchors) >= weights.max_sentences:
            break
    return places.quote()


class _Places:
    """The places chosen so far (anchors), and the lines quoted beside them (context)."""

    def __init__(self, scores: Scores, weights: Weights, said: str = ""):
        self.candidates, self.words, self.relevance = scores
        self.weights = weights
        self.said = said
        self.at = {(unit.number, unit.position): i for i, unit in enumerate(self.candidates)}
        self.anchors: dict[Place, Unit] = {}
        self.context: dict[Place, Unit] = {}
        self.seen: set[str] = set()

    def take(self, i: int) -> bool:
        """Quote candidate i, with what belongs to it, unless it is quoted already or answers
        nothing on its own; whether it was taken."""
        unit = self.candidates[i]
        if self.relevance[i] < self.weights.min_relevance:  # none quoted yet: the best was a heading passed over
            return False
        key = said_text(unit.text)
        place = (unit.number, unit.position)
        if key in self.seen or place in self.anchors or place in self.context:  # overlapping chunks repeat sentences
            return False
        if self.said and key in self.said:  # an earlier answer quoted it: a follow-up asks for something else
            return False
        after = self.at.get((unit.number, unit.position + 1))
        if self._heading_of_other_prose(unit, after):
            return False
        self.seen.add(key)
        self.anchors[place] = unit
        before = self.at.get((unit.number, unit.position - 1))
        if before is not None and self._names_what_follows(self.candidates[before]):
            # In a manual the thing described is named on the line before ("max (x)", "--quiet").
            self.context[(unit.number, unit.position - 1)] = self.candidates[before]
        if not self._bring_what_follows(unit, after):
            self._read_on(unit)
        return True

    def _heading_of_other_prose(self, unit: Unit, after: int | None) -> bool:
        """A section heading whose prose does not bear on the question: the heading alone answers
        nothing. A label's value (an unpunctuated line) still comes with its label below."""
        return (
            after is not None and not unit.sentence and not unit.text.endswith(":")
            and bool(CLOSED.search(self.candidates[after].text)) and self.relevance[after] < self.weights.min_relevance
        )

    def _names_what_follows(self, unit: Unit) -> bool:
        """A heading or a signature line: short, not a sentence, not ended like one."""
        short = len(unit.text.split()) <= self.weights.heading_words
        return not unit.sentence and short and not _ENDS_A_SENTENCE.search(unit.text)

    def _bring_what_follows(self, unit: Unit, after: int | None) -> bool:
        """Quote the next line when this one introduces it (ends with ":") or is a label, heading or
        table cell whose value follows; and a next line that introduces another, with the line it
        introduces, when it is a sentence or shares a word with the question (not a label that
        opens a list of its own). Whether it did."""
        if after is None:
            return False
        following = self.candidates[after]
        introduces = following.text.endswith(":")
        if not (unit.text.endswith(":") or not unit.sentence or (
            introduces and (self.words[after] > 0 or len(following.text.split()) >= self.weights.introduction_words)
        )):
            return False
        self.context[(unit.number, unit.position + 1)] = following
        introduced = self.at.get((unit.number, unit.position + 2))
        if introduced is not None and introduces:
            self.context[(unit.number, unit.position + 2)] = self.candidates[introduced]
        return True

    def _read_on(self, unit: Unit) -> None:
        """Quote the sentences after this one while each refers back to the one before it."""
        step = unit.position
        for _ in range(self.weights.next_sentences):
            following = self.at.get((unit.number, step + 1))
            if following is None or not self.candidates[following].sentence:
                break
            if not _REFERS_BACK.search(self.candidates[following].text):
                break
            self.context[(unit.number, step + 1)] = self.candidates[following]
            step += 1

    def quote(self) -> Quote | None:
        """The chosen places in source order, and reading order within a source, each with the
        lines quoted beside it; a line between two places is quoted once, with the first. None
        when no place was chosen (only headings matched, and their prose does not answer)."""
        if not self.anchors:
            return None
        context = {place: unit for place, unit in self.context.items() if place not in self.anchors}
        parts = []
        for number, position in sorted(self.anchors):
            quoted = [self.anchors[(number, position)]]
            if (before := context.pop((number, position - 1), None)) is not None:
                quoted.insert(0, before)
            while (after := context.pop((number, position + 1), None)) is not None:
                quoted.append(after)
                position += 1
            parts.append((number, " ".join(unit.text for unit in quoted)))
        return Quote(parts)
