"""What kind of value an English question asks for, and whether a text gives one. Pure code.

"What was the retail price of the LinnSequencer?" asks for an amount of money; "On what date did
Vicksburg surrender?" for a date; "How many tracks can it record?", "How long is the period?" and
"What is the page limit?" for a number; "What is the telephone number of the Board?" for one to
call. Passages about the right thing that give no such value do not answer the question, however
many of its words they share: the extractive answer (querying.llm.extractive) refuses then, and
says what it did not find.

Only questions written one of these ways expect a kind of value; any other question (another
language, "When does Octave read the file?", "What is the default value?") expects none, nor does
one that asks for a way ("How do I find out how many arguments were passed?", "Which function
gives the maximum?"), nor a sentence asked yes or no, who, where or why ("Is there a fee?"), and
nothing is refused for it: this only ever errs towards answering.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

ValueKind = Literal["money", "date", "number", "phone"]

# The phrase in a question that asks for each kind. A telephone number first ("the Board's
# contact number" is no count), then money: "How much does it cost?" asks
# for money, not any number. Not "cost" alone ("the cost of a matrix product"), "when" (as often
# a condition as a time), "how often" ("every month") or "maximum" as a word ("max (x)").
_ASKS_MONEY = re.compile(
    r"\b(?:price[sd]?|pricing|fees?|dues|tuition|paid|salary|salaries|wages?|funding|budget)\b|\bhow much\b.*\bcost",
    re.IGNORECASE,
)
_ASKS_PHONE = re.compile(r"\b(?:(?:tele)?phone|fax|contact) (?:number|no)\b", re.IGNORECASE)
_ASKS_DATE = re.compile(r"\b(?:on |in )?(?:what|which) (?:date|year|day of the month)\b", re.IGNORECASE)
# "What is the page limit ...": a number answers it beside what is limited, or beside "limit".
_LIMIT = re.compile(r"\b(?:the|a) (?:(\S+) )?limit\b(?! (?:the|a|an|it|them|this)\b)", re.IGNORECASE)
_ASKS_NUMBER = re.compile(
    r"\bhow (?:many|much|long|far|old|big|large|heavy|tall|wide|high|deep|fast)\b"
    rf"|\bwhat(?:'s| is| was| are| were)? the (?:maximum|minimum)\b|{_LIMIT.pattern}",
    re.IGNORECASE,
)

# A question that asks for a way to do something ("Inside a function, how do I find out how many
# arguments were passed?") is answered by the way (a function, a command), not by a value.
_ASKS_A_WAY = re.compile(
    r"\bhow (?:do|can|could|should|would|might|may) (?:i|we|you|one)\b|\bhow to\b"
    r"|\b(?:which|what) (?:function|command|option|method|tool|package|setting)s?\b",
    re.IGNORECASE,
)

# A sentence that asks yes or no ("Am I allowed to shrink the margins to fit the page limit?"), who,
# where or why ("Where should I thank my funding agency?") asks for no value, whatever it names.
_ASKS_NO_VALUE = re.compile(
    r"^\W*(?:am|is|are|was|were|can|could|do|does|did|should|shall|will|would|may|might|must|has|have|had"
    r"|who|whom|whose|where|why)\b",
    re.IGNORECASE,
)
_SENTENCES = re.compile(r"(?<=[.?!])\s+")

_NUMBER_WORDS = (
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred "
    "thousand million billion dozen half twice thrice"
)
_NUMBER_WORD_SET = frozenset(_NUMBER_WORDS.split())
_NUMBER = re.compile(rf"\d|\b(?:{'|'.join(_NUMBER_WORD_SET)})\b", re.IGNORECASE)
_MONEY = re.compile(
    r"[$€£¥₹¢]|\b(?:dollars?|cents?|euros?|pounds? sterling|usd|eur|gbp|francs?|shillings?|pence|yen|"
    r"rupees?|guineas?)\b",
    re.IGNORECASE,
)
_MONTHS = (
    "january february march april may june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec"
)
_DATE = re.compile(
    rf"\b(?:{'|'.join(_MONTHS.split())})\.?\s+\d{{1,4}}\b"  # July 4, 1863 / May 1863
    rf"|\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?(?:{'|'.join(_MONTHS.split())})\b"  # 4th of July
    r"|\b\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}\b"  # 1863-07-04, 07/04/1863
    r"|\b(?:1[0-9]|20)\d{2}\b",  # a year
    re.IGNORECASE,
)
_HOW_MANY = re.compile(r"\bhow many\s+([^?.!]*)", re.IGNORECASE)
# Where the counted thing ends in a question: its verb or a preposition.
_NOT_COUNTED = frozenset(
    "do does did is are was were can could will would should may might must have has had be the a an "
    "of in on at to for by with from there it they i you we he she".split()
)
# A telephone number: seven digits or more, single spaces, dots, dashes or brackets between them.
_PHONE = re.compile(r"\d(?:[\s().-]?\d){6,}")
_GIVES = {"money": _MONEY, "date": _DATE, "number": _NUMBER, "phone": _PHONE}
_NAMES = {"money": "amount of money", "date": "date", "number": "number", "phone": "telephone number"}


def question_value_kind(question: str) -> ValueKind | None:
    """The kind of value the question asks for, or None when it asks for none of them (or is not
    written in a way this knows)."""
    question = unicodedata.normalize("NFKC", question)
    if _ASKS_A_WAY.search(question):
        return None
    question = " ".join(part for part in _SENTENCES.split(question) if not _ASKS_NO_VALUE.match(part))
    if _ASKS_PHONE.search(question):
        return "phone"
    if _ASKS_MONEY.search(question):
        return "money"
    if _ASKS_DATE.search(question):
        return "date"
    if _ASKS_NUMBER.search(question):
        return "number"
    return None


def _words(text: str) -> list[str]:
    return re.findall(r"[\w'-]+", unicodedata.normalize("NFKC", text).casefold())


def counted(question: str) -> list[str]:
    """What a "how many" question counts: its words after "how many" up to the verb ("How many
    MIDI channels can ...": ["midi", "channels"]), case-folded, or none. A verb this does not
    know stays in ("sensors come"): any of the words next to a number answers. For a question
    about a limit, what is limited and the limit itself ("the page limit": ["page", "limit"])."""
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
    return words[:3]


def value_name(kind: ValueKind, counts: list[str] | None = None) -> str:
    """What the value is called in a sentence: "amount of money", "number of days"."""
    if kind == "number" and counts and counts[-1] == "limit":
        return " ".join(counts)
    if kind == "number" and counts:
        # Named up to the plural noun: "number of sensors", not "number of sensors come".
        plural = next((i for i, word in enumerate(counts) if len(word) > 3 and word.endswith("s")), len(counts) - 1)
        return f"number of {' '.join(counts[:plural + 1])}"
    return _NAMES[kind]


def gives_value(kind: ValueKind, text: str, counts: list[str] | None = None) -> bool:
    """Whether the text holds a value of that kind (a price holds a number, and a date too); for
    a number with `counts` (what a "how many" question counts), a number that has one of those
    words within four words of it ("16 MIDI channels", "tracks: 32")."""
    if not counts:
        return bool(_GIVES[kind].search(unicodedata.normalize("NFKC", text)))
    stems = [word[:5] for word in counts]
    words = _words(text)
    for place, word in enumerate(words):
        if word[0].isdigit() or word.split("-")[0] in _NUMBER_WORD_SET:
            near = words[max(0, place - 4):place] + words[place + 1:place + 5]
            if any(other.startswith(stem) for other in near for stem in stems):
                return True
    return False
