"""What kind of value a question asks for, and whether a text gives one. Pure code.

A question may ask for an amount of money, a date, a number (a count, a size, a limit) or a
telephone number. Passages about the right thing that give no such value do not answer it,
however many of its words they share (querying.extractive.guards refuses then, and says what it
did not find).

Only questions written in one of the ways data/en.toml lists expect a kind of value; any other
question (another language, a condition, "what is the default") expects none, nor does one that
asks for a way to do something, nor a sentence asked yes or no, who, where or why; and nothing is
refused for it: this only ever errs towards answering.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from typing import Literal

from querying.extractive import lexicon
from querying.extractive.weights import WEIGHTS, Weights

ValueKind = Literal["money", "date", "number", "phone"]

_ASKS_A_WAY = lexicon.pattern("en", "asks", "a_way")
_ASKS_NO_VALUE = lexicon.pattern("en", "asks", "no_value")
# Asked in this order: the first that a question matches is what it asks for.
_ASKS: list[tuple[ValueKind, re.Pattern]] = [
    (kind, lexicon.pattern("en", "asks", kind)) for kind in ("phone", "money", "date", "number")
]
_LIMIT = lexicon.pattern("en", "asks", "limit")
_HOW_MANY = lexicon.pattern("en", "asks", "how_many")
_NOT_COUNTED = lexicon.words("asks", "not_counted")
_NUMBER_WORDS = lexicon.words("gives", "number_words")
_GIVES = {kind: lexicon.pattern("en", "gives", kind) for kind in ("money", "date", "number")}
_SENTENCES = re.compile(r"(?<=[.?!])\s+")
_NAMES = {"money": "amount of money", "date": "date", "number": "number", "phone": "telephone number"}


@cache
def _phone(min_digits: int) -> re.Pattern:
    # Digits, single spaces, dots, dashes or brackets between them.
    return re.compile(rf"\d(?:[\s().-]?\d){{{min_digits - 1},}}")


def question_value_kind(question: str) -> ValueKind | None:
    """The kind of value the question asks for, or None when it asks for none of them (or is not
    written in a way this knows)."""
    question = unicodedata.normalize("NFKC", question)
    if _ASKS_A_WAY.search(question):
        return None
    question = " ".join(part for part in _SENTENCES.split(question) if not _ASKS_NO_VALUE.match(part))
    if _HOW_MANY.search(question):
        return "number"  # a count, whatever else it names: "how many days of paid leave"
    return next((kind for kind, asks in _ASKS if asks.search(question)), None)


def _words(text: str) -> list[str]:
    return re.findall(r"[\w'-]+", unicodedata.normalize("NFKC", text).casefold())


def counted(question: str, weights: Weights = WEIGHTS) -> list[str]:
    """What a "how many" question counts: its words after "how many" up to the verb, case-folded,
    or none. A verb this does not know stays in: any of the words next to a number answers. For
    a question about a limit, what is limited and the limit itself ("the word limit": ["word",
    "limit"])."""
    question = unicodedata.normalize("NFKC", question)
    match = _HOW_MANY.search(question)
    if not match:
        limit = _LIMIT.search(question)
        if not limit:
            return []
        limited = (limit.group(1) or "").casefold()
        return [limited, "limit"] if limited and limited not in _NOT_COUNTED else ["limit"]
    words = []
    for word in _words(match.group(1)):
        if word in _NOT_COUNTED:
            break
        if not word[0].isdigit() and word[0] not in "_'-":
            words.append(word)
    return words[:weights.counted_words]


def value_name(kind: ValueKind, counts: list[str] | None = None) -> str:
    """What the value is called in a sentence: "amount of money", "number of days"."""
    if kind == "number" and counts and counts[-1] == "limit":
        return " ".join(counts)
    if kind == "number" and counts:
        # Named up to the plural noun: "number of sensors", not "number of sensors come".
        plural = next((i for i, word in enumerate(counts) if len(word) > 3 and word.endswith("s")), len(counts) - 1)
        return f"number of {' '.join(counts[:plural + 1])}"
    return _NAMES[kind]


def gives_value(kind: ValueKind, text: str, counts: list[str] | None = None, weights: Weights = WEIGHTS) -> bool:
    """Whether the text holds a value of that kind (a price holds a number, and a date too); for
    a number with `counts` (what a "how many" question counts), a number that has one of those
    words near it (Weights.count_window)."""
    if not counts:
        gives = _phone(weights.phone_min_digits) if kind == "phone" else _GIVES[kind]
        return bool(gives.search(unicodedata.normalize("NFKC", text)))
    stems = [word[:weights.count_stem_letters] for word in counts]
    words = _words(text)
    window = weights.count_window
    for place, word in enumerate(words):
        if word[0].isdigit() or word.split("-")[0] in _NUMBER_WORDS:
            near = words[max(0, place - window):place] + words[place + 1:place + 1 + window]
            if any(other.startswith(stem) for other in near for stem in stems):
                return True
    return False
