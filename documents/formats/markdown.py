"""Markdown files: markdown-it-py (CommonMark, with tables) reads them; each heading starts a
section whose anchor is its GitHub slug ("## What is Bash?" -> #what-is-bash)."""

from documents.formats.base import Anchors, ExtractionError, HeadingPath, Section, SectionExtractor, heading_slug, one_line
from documents.formats.detect import text_decode

# Blocks nested deeper than this (quotes in quotes, lists in lists) are read as plain text:
# markdown-it's own guard against input made to exhaust it.
MAX_NESTING = 20


def markdown_sections(text: str) -> list[Section]:
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark", {"maxNesting": MAX_NESTING}).enable("table").parse(text)
    path, anchors = HeadingPath(), Anchors()
    sections = [Section(path=(), anchor="")]
    row: list[str] | None = None
    heading_level = None
    for token in tokens:
        if token.type == "heading_open":
            heading_level = int(token.tag[1])
        elif token.type == "inline" and heading_level is not None:
            heading = one_line(_plain(token))
            sections.append(Section(path=path.enter(heading_level, heading), anchor=anchors.unique(heading_slug(heading))))
            sections[-1].paragraphs.append(heading)
            heading_level = None
        elif token.type == "tr_open":
            row = []
        elif token.type == "tr_close" and row is not None:
            sections[-1].paragraphs.append(" | ".join(row))
            row = None
        elif token.type == "inline":
            (row if row is not None else sections[-1].paragraphs).append(_plain(token))
        elif token.type in ("fence", "code_block"):
            sections[-1].paragraphs.extend(token.content.split("\n"))
    return sections


def _plain(token) -> str:
    """An inline token's text, markup left out (code spans and image descriptions kept)."""
    pieces = []
    for child in token.children or []:
        if child.type in ("text", "code_inline"):
            pieces.append(child.content)
        elif child.type == "softbreak":
            pieces.append(" ")
        elif child.type == "hardbreak":
            pieces.append("\n")
        elif child.type == "image":
            pieces.append(child.content)
    return "".join(pieces)


class MarkdownExtractor(SectionExtractor):
    format = "markdown"

    def read(self, path, *, filename: str) -> tuple[list[Section], str, list[str]]:
        text, note = read_text(path, filename)
        sections = markdown_sections(text)
        return sections, next((s.path[0][:255] for s in sections if len(s.path) == 1), ""), [note] if note else []


def read_text(path, filename: str) -> tuple[str, str]:
    with open(path, "rb") as handle:
        data = handle.read()
    try:
        return text_decode(data)
    except ExtractionError as exc:
        raise ExtractionError(f"{filename}: {exc}") from None
