"""Plain-text files (and reStructuredText and AsciiDoc, read as text): a line underlined with a
row of one punctuation character ("Title\\n=====", as reStructuredText, AsciiDoc and setext
write), or an AsciiDoc "== Title", starts a section. Levels follow the order the underline
characters first appear in, as reStructuredText defines them. An anchor written before a heading
("[[id]]", ".. _id:") is its anchor, else its slug."""

import re
from documents.formats.base import Anchors, HeadingPath, Section, SectionExtractor, heading_slug, one_line
from documents.formats.markdown import read_text

_UNDERLINE = re.compile(r"^([=\-~^\"'`#*+_.:])\1{2,}\s*$")
_ASCIIDOC_TITLE = re.compile(r"^(={1,6})\s+(\S.*?)\s*=*\s*$")
_EXPLICIT_ANCHOR = re.compile(r"^\s*(?:\[\[([\w.:-]+)(?:,[^\]]*)?\]\]|\.\.\s+_([\w.:-]+):)\s*$")
_HEADING_TEXT = re.compile(r"\w")
# A heading is a line a person reads as one: short, and no longer than its underline by much.
MAX_HEADING_CHARS = 120


class _Headings:
    """Levels by underline style, in the order styles first appear."""

    def __init__(self):
        self.styles: list[str] = []

    def level(self, style: str) -> int:
        if style not in self.styles:
            self.styles.append(style)
        return self.styles.index(style) + 1


def _heading_at(lines: list[str], i: int, styles: _Headings) -> tuple[str, int, int] | None:
    """(heading, level, lines it takes) when lines[i] starts a heading."""
    line = lines[i].rstrip()
    match = _ASCIIDOC_TITLE.match(line)
    if match and not _UNDERLINE.match(line):
        return match.group(2), styles.level("=" * len(match.group(1)) + " prefix"), 1
    overline = _UNDERLINE.match(line)
    if overline and i + 2 < len(lines) and lines[i + 2].rstrip() == line and _is_title(lines[i + 1], len(line)):
        if len(line) <= len(lines[i + 1].strip()) + 4:  # not a listing's delimiters around a short line
            return lines[i + 1].strip(), styles.level("over" + line[0]), 3
    if i + 1 < len(lines) and _is_title(line, MAX_HEADING_CHARS) and (under := _UNDERLINE.match(lines[i + 1].rstrip())):
        # As long as the title, give or take a few; a much longer row ends a listing block.
        title, rule = len(line.strip()), len(lines[i + 1].rstrip())
        if title - 3 <= rule <= title * 1.5 + 4:
            return line.strip(), styles.level(under.group(1)), 2
    return None


def _is_title(line: str, limit: int) -> bool:
    stripped = line.strip()
    return (0 < len(stripped) <= limit and not line[:1].isspace() and bool(_HEADING_TEXT.search(stripped))
            and not stripped.endswith((".", ",")) and not (stripped.startswith("[") and stripped.endswith("]")))


def text_sections(text: str) -> list[Section]:
    lines = text.splitlines()
    styles, path, anchors = _Headings(), HeadingPath(), Anchors()
    sections = [Section(path=(), anchor="")]
    block: list[str] = []
    explicit = ""
    i = 0
    while i < len(lines):
        closing = _block_end(lines, i)
        if closing:  # a delimited block (a listing, a note): its lines are text, never headings
            block.extend(" " + line for line in lines[i + 1:closing])
            i = closing + 1
            continue
        found = _heading_at(lines, i, styles) if len(lines[i]) <= MAX_HEADING_CHARS + 10 else None
        if found:
            sections[-1].paragraphs.extend(_paragraphs(block))
            block = []
            heading, level, taken = found
            heading = one_line(heading)
            anchor = anchors.unique(explicit or heading_slug(heading))
            sections.append(Section(path=path.enter(level, heading), anchor=anchor, paragraphs=[heading]))
            explicit, i = "", i + taken
            continue
        anchor = _EXPLICIT_ANCHOR.match(lines[i])
        if anchor:
            explicit = anchor.group(1) or anchor.group(2)
        elif lines[i].strip():
            explicit = "" if explicit and block and not block[-1] else explicit
            block.append(lines[i])
        else:
            block.append("")
        i += 1
    sections[-1].paragraphs.extend(_paragraphs(block))
    return sections


def _block_end(lines: list[str], i: int) -> int:
    """Where the delimited block that lines[i] opens ends (an AsciiDoc listing, example or
    sidebar: a row of 4 or more of one character after a blank or an attribute line, closed by
    the same row); 0 when lines[i] opens none."""
    line = lines[i].rstrip()
    if len(line) < 4 or not _UNDERLINE.match(line):
        return 0
    before = lines[i - 1].strip() if i else ""
    if before and not (before.startswith("[") and before.endswith("]")) and not before.startswith("."):
        return 0
    for j in range(i + 1, min(len(lines), i + 5000)):
        if lines[j].rstrip() == line:
            return j
    return 0


def _paragraphs(lines: list[str]) -> list[str]:
    """Blocks between blank lines; a wrapped block's lines joined, an indented block's (code, a
    drawing, a table) kept one a line."""
    paragraphs, block = [], []
    for line in [*lines, ""]:
        if _UNDERLINE.match(line):  # a delimiter (AsciiDoc's listing blocks, a rule): no text
            continue
        if line.strip():
            block.append(line)
            continue
        if block:
            if all(b[:1].isspace() for b in block):
                paragraphs.extend(b.strip() for b in block)
            else:
                paragraphs.append(" ".join(b.strip() for b in block))
        block = []
    return paragraphs


class TextExtractor(SectionExtractor):
    format = "text"

    def read(self, path, *, filename: str) -> tuple[list[Section], str, list[str]]:
        text, note = read_text(path, filename)
        sections = text_sections(text)
        return sections, next((one_line(s.path[0], 255) for s in sections if s.path), ""), [note] if note else []
