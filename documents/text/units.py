"""A passage cut into the units an extractive answer may quote: its sentences and lines, with
headings, table and code lines told from whole sentences, and page furniture (running headers and
footers, table-of-contents lines) marked. Pure code.

The corpus embeds each quotable unit when a document is ingested (`meaning_texts`), so that
answering a question compares vectors instead of running the model over sentences; the extractive
answer (querying.extractive) cuts passages with the same `units`, so both agree on what a unit
is, one vector per unit in order."""

from __future__ import annotations

import re
from dataclasses import dataclass

from documents.text.chunking import sentence_spans
from documents.text.tokenize import tokenize

CLOSED = re.compile(r"[.!?。！？;:;)\]\"'»”…؟।]$")
_BULLET = re.compile(r"^[•·▪\-–]\s+")
# Page furniture: a line of a table of contents (dot leaders), or a running header or footer,
# a short line that starts or ends with a page number ("Chapter 5: Functions 87", "88 GNU Octave").
_LEADERS = re.compile(r"(?:\.\s?){4,}")
_PAGE_NUMBER_EDGE = re.compile(r"^[1-9]\d{0,3}\s+\S|\S\s+[1-9]\d{0,3}$")  # a page number has no leading zero
_WORD = re.compile(r"[^\W\d_]{2,}")  # a running header names something; a line of figures is data
# A sentence's first words carry its meaning; a long one would pad the model's whole batch.
MEANING_WORDS = 32


@dataclass
class Unit:
    """A sentence or a line of a passage, as the answer may quote it."""

    number: int  # the passage's [n]
    position: int  # place within the passage
    text: str
    sentence: bool  # a whole sentence; else a fragment: a heading, a signature, a table or code line
    furniture: bool  # a running header or footer, or a table-of-contents line: never quoted
    span: tuple[int, int] = (0, 0)  # where it stands in the passage's text


def units(text: str, number: int = 0) -> list[Unit]:
    """A passage cut into sentences and lines (the chunker's sentence_spans), whitespace tidied."""
    out = []
    for start, end in sentence_spans(text):
        part = _BULLET.sub("", " ".join(text[start:end].split()))
        if not part:
            continue
        words = len(part.split())
        sentence = words >= 6 or bool(CLOSED.search(part))
        if sentence and words < 3 and len(tokenize(part)) < 4:
            sentence = False  # a short sentence in a script without spaces counts; "Yes." does not
        furniture = bool(_LEADERS.search(part)) or (
            words <= 10 and bool(_PAGE_NUMBER_EDGE.search(part)) and not CLOSED.search(part) and bool(_WORD.search(part))
        )
        out.append(Unit(number, len(out), part, sentence, furniture, (start, end)))
    return out


def meaning_text(unit: Unit) -> str:
    """What of a unit the embedding model reads: its first MEANING_WORDS words."""
    return " ".join(unit.text.split()[:MEANING_WORDS])


def meaning_texts(text: str) -> list[str]:
    """The texts to embed for a passage: one per unit that may be quoted (not furniture), in order."""
    return [meaning_text(unit) for unit in units(text) if not unit.furniture]
