"""Which format a file is, told by its content; the name only chooses among text formats (a
Markdown file and a plain one are both text). A file that is none of the formats ragsite reads is
refused with what it is. Pure code."""

import codecs
import re
import zipfile
from pathlib import PurePath

from documents.formats.base import ExtractionError

READABLE = "PDF, Word (.docx), HTML, Markdown or plain text"
HEAD_BYTES = 64 * 1024  # what detection reads of a file

# Signatures of files people upload by mistake, and what to call them in the refusal.
SIGNATURES: list[tuple[bytes, str]] = [
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Microsoft Office file (Word 97-2003 .doc, .xls or .ppt): save it as .docx"),
    (b"{\\rtf", "an RTF document: save it as .docx"),
    (b"%!PS", "a PostScript file"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"BZh", "a bzip2 archive"),
    (b"\xfd7zXZ\x00", "an xz archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\x7fELF", "a program (ELF)"),
    (b"MZ", "a Windows program"),
    (b"OggS", "an Ogg audio or video file"),
    (b"ID3", "an MP3 audio file"),
    (b"fLaC", "a FLAC audio file"),
    (b"SQLite format 3\x00", "an SQLite database"),
]
# What a zip archive is, by the member that says so (an Office Open XML or OpenDocument file).
ZIP_MEMBERS: list[tuple[str, str]] = [
    ("word/document.xml", "docx"),
    ("xl/workbook.xml", "an Excel workbook (.xlsx)"),
    ("ppt/presentation.xml", "a PowerPoint presentation (.pptx)"),
    ("content.xml", "an OpenDocument file (.odt, .ods, .odp): save it as .docx"),
    ("META-INF/container.xml", "an EPUB book"),
]
MARKDOWN_SUFFIXES = {".md", ".markdown", ".mdown", ".mkd"}
HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
# A document that says it is HTML, whatever its name: a doctype, or the html, head or body tag near
# its start (after a BOM, white space, an XML declaration or comments).
_HTML_DECLARED = re.compile(rb"^(?:\s|<\?xml[^>]*>|<!--.*?-->)*<(?:!doctype\s+html|html|head|body)[\s>/]", re.I | re.S)
_HTML_TAG = re.compile(rb"^\s*<(?:[a-z][a-z0-9]*)[\s>/]", re.I)
_MARKDOWN_HEADING = re.compile(r"^#{1,6}\s+\S", re.M)


def format_detect(head: bytes, *, filename: str = "", zip_names: list[str] | None = None) -> str:
    """The format of a file that starts with `head` (its first HEAD_BYTES): "pdf", "docx", "html",
    "markdown" or "text". `zip_names` are the member names when the file is a zip archive.
    ExtractionError naming what the file is when it is none of them."""
    name = filename or "the file"
    if b"%PDF-" in head[:1024]:
        return "pdf"
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return _zip_format(zip_names or [], name)
    for signature, what in SIGNATURES:
        if head.startswith(signature):
            raise ExtractionError(f"{name} is {what}, not a document ragsite reads ({READABLE})")
    text = text_sample(head)
    if text is None:
        raise ExtractionError(f"{name} is binary data, not a document ragsite reads ({READABLE})")
    suffix = PurePath(filename).suffix.lower()
    sample = text.encode("utf-8", "replace")
    if _HTML_DECLARED.match(sample) or (suffix in HTML_SUFFIXES and _HTML_TAG.match(sample)):
        return "html"
    if suffix in MARKDOWN_SUFFIXES or (suffix not in {".txt", ".text", ".rst"} and _MARKDOWN_HEADING.search(text)):
        return "markdown"
    return "text"


def _zip_format(names: list[str], name: str) -> str:
    present = set(names)
    for member, what in ZIP_MEMBERS:
        if member in present:
            if what == "docx":
                return "docx"
            raise ExtractionError(f"{name} is {what}, not a document ragsite reads ({READABLE})")
    raise ExtractionError(f"{name} is a ZIP archive, not a document ragsite reads ({READABLE})")


def zip_names(file) -> list[str]:
    """The member names of a zip archive (a binary file object, left at its start); [] when its
    directory cannot be read."""
    try:
        with zipfile.ZipFile(file) as archive:
            return archive.namelist()[:10_000]
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return []
    finally:
        file.seek(0)


# Control characters that no text file holds (tab, line feed, form feed and carriage return are
# text; so is ESC, which some terminal captures keep).
_BINARY = re.compile(r"[\x00-\x08\x0e-\x1a\x1c-\x1f]")


def text_encoding(data: bytes) -> str | None:
    """The encoding text in `data` is in: a byte-order mark's, UTF-16 without one (every other
    byte NUL), UTF-8, or Windows-1252 for the older 8-bit files; None when it is not text."""
    for bom, encoding in ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
                          (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            return encoding
    sample = data[:HEAD_BYTES]
    if len(sample) >= 4 and sample.count(0) * 3 >= len(sample):
        even, odd = sample[0::2].count(0), sample[1::2].count(0)
        if odd > 0.9 * len(sample) / 2 > even:
            return "utf-16-le"
        if even > 0.9 * len(sample) / 2 > odd:
            return "utf-16-be"
    if b"\x00" in sample:
        return None
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if exc.start >= len(sample) - 3:  # a character cut by the sample's end
            return "utf-8"
        if _mostly_utf8(sample):
            return "utf-8"
    return "cp1252"


def _mostly_utf8(sample: bytes) -> bool:
    """Whether a sample is UTF-8 with a few broken bytes (one in a hundred characters at most)
    rather than an 8-bit encoding: it then reads as UTF-8, the broken bytes replaced."""
    text = sample.decode("utf-8", "replace")
    return text.count("\ufffd") * 100 <= len(text) and any(ord(char) > 127 and char != "\ufffd" for char in text)


def text_decode(data: bytes) -> tuple[str, str]:
    """(text, note): data decoded as text_encoding says, bytes that do not decode replaced and
    counted in the note. ExtractionError when it is not text."""
    encoding = text_encoding(data)
    if encoding is None:
        raise ExtractionError("it is binary data, not text")
    text = data.decode(encoding, "replace")
    if encoding == "cp1252" and _BINARY.search(text[:HEAD_BYTES]):
        raise ExtractionError("it is binary data, not text")
    replaced = text.count("\ufffd")
    if replaced * 100 > max(len(text), 1):
        raise ExtractionError(f"it is not readable text: {replaced} of its {len(text)} characters are not valid {encoding}")
    note = f"{replaced} byte sequence(s) that are not valid {encoding} were replaced" if replaced else ""
    return text, note


def text_sample(head: bytes) -> str | None:
    """The start of a text file as text, or None when it is not text."""
    try:
        text, _ = text_decode(head)
    except ExtractionError:
        return None
    return text
