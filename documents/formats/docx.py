"""Word (.docx) files: python-docx reads the body in order; a paragraph in a heading style starts
a section, whose anchor is the heading's bookmark (what Word's and pandoc's links point at) or
else its slug.

A .docx is a zip of XML, so it is checked before python-docx reads it: how many members, what they
unpack to in all and at what ratio to their compressed size (zip bombs), and no XML part may carry
a document type declaration (entity expansion, external entities: no Word writes one, and
python-docx's parser would leave entities unresolved anyway)."""

import re
import zipfile
from typing import Iterator

from documents.formats.base import (
    Anchors, ExtractionError, HeadingPath, Section, SectionExtractor, heading_slug, one_line,
)

_HEADING_STYLE = re.compile(r"^heading\s*([1-9])$", re.I)
_XML_DECLARATIONS = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.I)
_ROOT_START = re.compile(rb"<[A-Za-z_]")
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


class DocxExtractor(SectionExtractor):
    """max_members: the most files the zip may hold; max_unpacked_mb: what all of them may unpack
    to (python-docx holds every part in memory: a 300-page manual unpacks to a few MB);
    max_ratio: the most a member over 1 MB may unpack to per compressed byte (Word's XML
    compresses 5-30 times; a zip bomb thousands of times)."""

    format = "docx"

    def __init__(self, *, max_members: int = 5000, max_unpacked_mb: int = 200, max_ratio: int = 200):
        self.max_members = max_members
        self.max_unpacked = max_unpacked_mb * 1024 * 1024
        self.max_ratio = max_ratio

    def check(self, file, *, filename: str) -> None:
        try:
            self._check_zip(file, filename)
        finally:
            file.seek(0)

    def read(self, path, *, filename: str) -> tuple[list[Section], str, list[str]]:
        import docx  # python-docx, imported where Word files are read

        with open(path, "rb") as handle:
            self._check_zip(handle, filename)
        try:
            document = docx.Document(path)
            sections = list(_sections(document))
        except (KeyError, ValueError, zipfile.BadZipFile) as exc:
            raise ExtractionError(f"{filename} is a damaged Word file and cannot be read ({_describe(exc)})") from exc
        except Exception as exc:  # lxml and python-docx raise many types for broken parts
            if exc.__class__.__module__.startswith(("lxml", "docx")):
                raise ExtractionError(f"{filename} is a damaged Word file and cannot be read ({_describe(exc)})") from exc
            raise
        return sections, one_line(document.core_properties.title or "", 255), []

    def _check_zip(self, handle, filename: str) -> None:
        """ExtractionError unless the zip is one python-docx may read without harm."""
        try:
            archive = zipfile.ZipFile(handle)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            raise ExtractionError(f"{filename} is a damaged Word file: its zip directory cannot be read ({_describe(exc)})") from exc
        with archive:
            members = archive.infolist()
            if len(members) > self.max_members:
                raise ExtractionError(f"{filename} holds {len(members)} files; a Word file may hold {self.max_members}")
            unpacked = sum(member.file_size for member in members)
            if unpacked > self.max_unpacked:
                raise ExtractionError(
                    f"{filename} unpacks to {unpacked / 1024 / 1024:.0f} MB; a Word file may unpack to "
                    f"{self.max_unpacked / 1024 / 1024:.0f} MB (a zip bomb, or a file of images)"
                )
            for member in members:
                if member.file_size > 1024 * 1024 and member.file_size > self.max_ratio * max(member.compress_size, 1):
                    raise ExtractionError(
                        f"{filename} was refused: its part {member.filename[:100]} unpacks {member.file_size // max(member.compress_size, 1)} "
                        f"times its compressed size, far more than any real document (a zip bomb)"
                    )
            for member in members:
                if member.filename.endswith((".xml", ".rels")):
                    _check_xml_prolog(archive, member, filename)


def _check_xml_prolog(archive: zipfile.ZipFile, member: zipfile.ZipInfo, filename: str) -> None:
    """No document type declaration before an XML part's root element (read from its first 64 kB)."""
    try:
        with archive.open(member) as part:
            head = part.read(64 * 1024)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
        raise ExtractionError(f"{filename} is a damaged Word file: {member.filename[:100]} cannot be unpacked ({_describe(exc)})") from exc
    root = _ROOT_START.search(head)
    prolog = head[: root.start()] if root else head
    if _XML_DECLARATIONS.search(prolog):
        raise ExtractionError(
            f"{filename} was refused: its part {member.filename[:100]} declares a document type or entities, "
            "which no Word file does (entity expansion or external entities)"
        )


def _heading_levels(document) -> dict[str, int]:
    """Paragraph style id -> heading level (0 for Title), following styles based on a heading."""
    from docx.enum.style import WD_STYLE_TYPE

    levels: dict[str, int] = {}
    for style in document.styles:
        if style.type != WD_STYLE_TYPE.PARAGRAPH:
            continue
        current, seen = style, 0
        while current is not None and seen < 10:
            name = current.name or ""
            if (match := _HEADING_STYLE.match(name)) or name.lower() == "title":
                levels[style.style_id] = int(match.group(1)) if match else 0
                break
            current, seen = current.base_style, seen + 1
    return levels


def _sections(document) -> Iterator[Section]:
    """The body's sections in order: paragraphs, and table rows as one paragraph each."""
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    levels = _heading_levels(document)
    path, anchors = HeadingPath(), Anchors()
    section = Section(path=(), anchor="")
    for child in document.element.body.iterchildren():
        if child.tag == f"{_W}p":
            paragraph = Paragraph(child, document)
            text = paragraph.text
            level = levels.get(child.style or "")
            if level is not None and text.strip():
                yield section
                heading = one_line(text)
                section = Section(path=path.enter(level, heading), anchor=anchors.unique(_bookmark(child) or heading_slug(heading)))
            section.paragraphs.append(text)
        elif child.tag == f"{_W}tbl":
            for row in Table(child, document).rows:
                section.paragraphs.append(" | ".join(_unique_cells(row)))
    yield section


def _unique_cells(row) -> list[str]:
    """A row's cell texts, a merged cell once."""
    cells, seen = [], set()
    for cell in row.cells:
        if id(cell._tc) not in seen:
            seen.add(id(cell._tc))
            cells.append(" ".join(cell.text.split()))
    return cells


def _bookmark(paragraph) -> str:
    """The first bookmark a heading paragraph carries (Word's own _Toc and _GoBack ones aside)."""
    for mark in paragraph.iter(f"{_W}bookmarkStart"):
        name = mark.get(f"{_W}name") or ""
        if name and not name.startswith("_"):
            return name[:200]
    return ""


def _describe(exc: BaseException) -> str:
    message = str(exc).strip() or exc.__class__.__name__
    return message if len(message) <= 200 else message[:197] + "..."
