"""The extraction interface every format implements, and what the section-based formats share.

An extractor opens a stored file (`open`: its location count and title, or ExtractionError with a
reason the user reads) and yields its *locations* in reading order (`locations`): a page of a PDF,
a section of the other formats (a heading and what follows it up to the next heading). A location
carries its normalised text, and for a section its heading path ("Git FAQ › Credentials › How do I
...?") and its anchor (the HTML element id, the Markdown heading slug, the Word heading's own),
which a citation opens. Pure code: no ORM, no settings.
"""

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

from documents.text.normalise import normalise_text

# Between the headings of a section's path, as sources and the text view show it.
PATH_SEPARATOR = " › "
# A section longer than this many characters is cut into parts (locations of their own, with the
# same heading and anchor): chunking tokenises a location whole, and a 50 MB text without one
# heading must not become one string of 12 million token spans. 100,000 characters is about 60
# pages of prose, longer than any section of the real manuals in tests/corpus.
MAX_LOCATION_CHARS = 100_000


class ExtractionError(Exception):
    """The file cannot be ingested; the message is shown to the user as it is."""


@dataclass(frozen=True)
class Location:
    number: int  # 1-based: the page of a PDF, the section's place in reading order otherwise
    text: str  # normalised; "" when the place holds no text
    error: str = ""  # set when the place could not be read at all
    ocr: bool = False  # the text was recognised from the page's image (documents.ocr)
    repeat_of: int = 0  # an earlier page with the same content, read once: its text, its passages
    section: str = ""  # the heading path, PATH_SEPARATOR between levels ("" for a PDF page)
    anchor: str = ""  # where a citation opens the original: an element id, a slug ("" for a PDF page)


@dataclass
class Opened:
    """A file an extractor has opened: how many locations it has, the title it gives itself
    ("" when none), and what `locations` reads."""

    count: int
    title: str = ""
    source: object = None
    notes: list[str] = field(default_factory=list)  # what the reader met that staff should know


class Extractor:
    """One format's reader. `unit` names its locations for people ("page", "section").

    Subclasses implement open() and locations(); check() is what an upload is held to before
    anything is stored (cheap: the worker does the reading)."""

    format = ""
    unit = "section"

    def check(self, file, *, filename: str) -> int | None:
        """The location count when it is known at once, else None; ExtractionError when the
        upload cannot be taken. `file` is a binary file object, left at its start."""
        return None

    def open(self, path, *, filename: str) -> Opened:
        raise NotImplementedError

    def locations(self, opened: Opened, *, filename: str, note: Callable[[str], None] | None = None) -> Iterator[Location]:
        raise NotImplementedError


class SectionExtractor(Extractor):
    """A format read whole when it is opened (a Word, HTML, Markdown or text file is small beside
    its embedding): subclasses implement read(), the sections, title and notes of the file."""

    def read(self, path, *, filename: str) -> tuple[list["Section"], str, list[str]]:
        raise NotImplementedError

    def open(self, path, *, filename: str) -> Opened:
        sections, title, notes = self.read(path, filename=filename)
        locations = sections_to_locations(sections)
        return Opened(count=len(locations), title=title, source=locations, notes=notes)

    def locations(self, opened: Opened, *, filename: str, note: Callable[[str], None] | None = None) -> Iterator[Location]:
        yield from opened.source


@dataclass
class Section:
    """A section as a reader builds it: its heading path, anchor and paragraphs."""

    path: tuple[str, ...]
    anchor: str
    paragraphs: list[str] = field(default_factory=list)


def sections_to_locations(sections: Iterable[Section], *, max_chars: int = MAX_LOCATION_CHARS) -> list[Location]:
    """Sections with text as locations numbered from 1, each paragraph normalised on its own and
    the paragraphs kept apart by a line break (a sentence boundary for chunking); a section longer
    than max_chars becomes several locations, cut between paragraphs, else between words. A long
    paragraph is cut before it is normalised, so no step holds more than one cut's copies."""
    locations: list[Location] = []
    for section in sections:
        pieces = [text for paragraph in section.paragraphs for raw in _cuts(paragraph, max_chars)
                  if (text := normalise_text(raw))]
        for part in _packed(pieces, max_chars):
            locations.append(Location(
                number=len(locations) + 1, text=part, section=PATH_SEPARATOR.join(section.path), anchor=section.anchor,
            ))
    return locations


def _cuts(text: str, max_chars: int) -> Iterator[str]:
    """text in pieces of at most max_chars, cut at the last line break, else the last space, else
    anywhere (by index: a 50 MB line is walked once, not copied at every cut)."""
    start, end = 0, len(text)
    while end - start > max_chars:
        limit = start + max_chars
        cut = text.rfind("\n", start + max_chars // 2, limit)
        if cut < 0:
            cut = text.rfind(" ", start + max_chars // 2, limit)
        if cut < 0:
            cut = limit
        yield text[start:cut]
        start = cut
    yield text[start:end]


def _packed(pieces: list[str], max_chars: int) -> Iterator[str]:
    """Consecutive pieces joined by line breaks into texts of at most about max_chars."""
    part: list[str] = []
    size = 0
    for piece in pieces:
        if part and size + len(piece) + 1 > max_chars:
            yield "\n".join(part)
            part, size = [], 0
        part.append(piece)
        size += len(piece) + 1
    if part:
        yield "\n".join(part)


_SLUG_DROP = re.compile(r"[^\w\- ]")


def heading_slug(text: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces become hyphens
    ("What is Bash?" -> "what-is-bash")."""
    text = unicodedata.normalize("NFKC", text).strip().lower()
    return _SLUG_DROP.sub("", text).replace(" ", "-")[:200]


class Anchors:
    """Unique anchors in one document, as GitHub makes them: a repeated slug gets -1, -2..."""

    def __init__(self, taken: Iterable[str] = ()):
        self.taken = set(taken)

    def unique(self, slug: str) -> str:
        slug = slug or "section"
        candidate, n = slug, 0
        while candidate in self.taken:
            n += 1
            candidate = f"{slug}-{n}"
        self.taken.add(candidate)
        return candidate


class HeadingPath:
    """The path of headings above the current point: a heading of level n replaces those of
    level n and deeper."""

    def __init__(self):
        self.levels: list[tuple[int, str]] = []

    def enter(self, level: int, heading: str) -> tuple[str, ...]:
        self.levels = [(lv, text) for lv, text in self.levels if lv < level]
        self.levels.append((level, heading))
        return tuple(text for _, text in self.levels)

    @property
    def depth(self) -> int:
        return self.levels[-1][0] if self.levels else 0


def one_line(text: str, limit: int = 300) -> str:
    """Whitespace collapsed, cut to limit characters: a heading as a path shows it."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
