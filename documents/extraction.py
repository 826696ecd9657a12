"""Text out of PDFs, one page at a time, with errors a user can act on."""

import logging
import os
import threading
from contextlib import contextmanager
from typing import Iterator

from pypdf import PdfReader
from pypdf.errors import FileNotDecryptedError, LimitReachedError, PyPdfError
from pypdf.generic import ArrayObject, IndirectObject

from documents.formats.base import ExtractionError, Location
from documents.text.normalise import normalise_text

logger = logging.getLogger(__name__)


class PdfError(ExtractionError):
    """The PDF cannot be ingested; the message is shown to the user as it is."""


# What the pages' content streams may unpack to, all pages read together, before a document is
# refused: DECODED_PER_FILE_BYTE times the file's size, never less than DECODED_FLOOR_BYTES. Real
# documents unpack to 0.1-2.4 times their size (the 29 readable PDFs of tests/corpus; the Octave
# manual the most); pypdf takes 5-10 s to read 5 MB of drawing instructions (tests/pdfs.slow_pdf),
# so a file of a few kilobytes holds a worker for seconds, not for its whole time limit.
DECODED_PER_FILE_BYTE = 50
DECODED_FLOOR_BYTES = 8 * 1024 * 1024
# pypdf keeps every object it has read (content streams, fonts) for the reader's life: about 4 MB
# per 100 pages of the R reference manual, 100 MB over its 2,415. Dropped every so many pages
# (objects read again later, a shared font say, are parsed again).
PYPDF_CACHE_PAGES = 100
# pypdf turns a RecursionError (objects nested past Python's limit) into this, and in its lenient
# mode logs it and keeps what it had read: a page without its content, read as a blank one.
_PYPDF_NESTED = "Error reading PDF file."


def pdf_title(reader: PdfReader) -> str:
    """The title in the PDF's metadata, when it looks like one a person would use."""
    try:
        title = str((reader.metadata or {}).get("/Title") or "")
    except Exception:  # a damaged info dictionary is no reason to fail the document
        return ""
    title = " ".join(title.replace("\x00", "").split())
    generated = ("microsoft word - ", "microsoft powerpoint - ", "untitled", "title", "document")
    if not 3 <= len(title) <= 200 or title.lower().startswith(generated) or title.lower().endswith((".doc", ".docx", ".pdf")):
        return ""
    return title


def pdf_open(source, *, filename: str = "") -> PdfReader:
    """Open a PDF (a path, or a binary file object positioned anywhere) for page-by-page
    reading, or raise PdfError saying why it cannot be read."""
    name = filename or str(source)
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as handle:
            head = handle.read(1024)
    else:
        source.seek(0)
        head = source.read(1024)
        source.seek(0)
    if b"%PDF-" not in head:
        raise PdfError(f"{name} is not a PDF file (no %PDF- header in its first 1024 bytes)")
    with _PypdfWarnings.collected() as warnings:
        reader, page_count = _open_counted(source, name)
    if _nested(warnings.messages):
        raise PdfError(_nested_reason(name))
    if page_count == 0:
        raise PdfError(f"{name} has no pages that can be read (its page tree is empty or broken)")
    return reader


def _open_counted(source, name: str) -> tuple[PdfReader, int]:
    """The reader and its page count, or PdfError saying why there are none."""
    try:
        reader = PdfReader(source, strict=False)
        if reader.is_encrypted:
            # Files with only an owner password (print/copy restrictions) open with "".
            try:
                reader.decrypt("")
            except Exception:  # pypdf raises several types for unsupported algorithms
                pass
        return reader, len(reader.pages)
    except FileNotDecryptedError:
        raise PdfError(f"{name} is encrypted and needs a password to open; upload an unlocked copy") from None
    except LimitReachedError as exc:
        raise PdfError(f"{name} {_past_a_limit(exc)}") from exc
    except RecursionError as exc:
        raise PdfError(_nested_reason(name)) from exc
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        raise PdfError(f"{name} is damaged or truncated and cannot be read ({_describe(exc)})") from exc


class _PypdfWarnings(logging.Handler):
    """Collects what pypdf logs while this thread reads: in its lenient mode a corrupt content
    stream, or objects nested too deep, are logged and read as an empty page, which must not pass
    for a blank one."""

    def __init__(self):
        super().__init__(level=logging.WARNING)
        self.thread = threading.get_ident()
        self.messages: list[str] = []

    def emit(self, record):
        if record.thread == self.thread:
            self.messages.append(record.getMessage())

    @classmethod
    @contextmanager
    def collected(cls):
        warnings = cls()
        pypdf_logger = logging.getLogger("pypdf")
        pypdf_logger.addHandler(warnings)
        try:
            yield warnings
        finally:
            pypdf_logger.removeHandler(warnings)


def pdf_pages(reader: PdfReader, *, start: int = 1, stop: int | None = None, filename: str = "") -> Iterator[Location]:
    """Yield pages start..stop (1-based, inclusive) one by one; a page that fails carries its error.

    Work is bounded by what the file holds. A page with the same content as an earlier one (the
    same page object listed again, or the same content streams and resources) is not read again:
    it carries that page's text and `repeat_of`. PdfError once the pages read unpack to far more
    than the file's size explains (DECODED_PER_FILE_BYTE, DECODED_FLOOR_BYTES)."""
    last = len(reader.pages) if stop is None else min(stop, len(reader.pages))
    budget = _DecodeBudget(reader, filename or "the file")
    first_with: dict[tuple, Location] = {}
    for number in range(start, last + 1):
        try:
            keys = _content_keys(reader.pages[number - 1])
        except Exception as exc:  # pypdf surfaces damaged page objects as many error types
            yield Location(number=number, text="", error=_reason(exc))
            continue
        earlier = next((first_with[key] for key in keys if key in first_with), None)
        if earlier is not None:
            yield _repeat(earlier, number)
            continue
        read = _page_text(reader.pages[number - 1], number, budget)
        first_with.update(dict.fromkeys(keys, read))
        if number % PYPDF_CACHE_PAGES == 0:
            reader.resolved_objects.clear()
        yield read


def _page_text(page, number: int, budget: "_DecodeBudget") -> Location:
    with _PypdfWarnings.collected() as warnings:
        try:
            contents = page.get_contents()
            budget.spend(len(contents.get_data()) if contents is not None else 0, page=number)
            text = normalise_text(page.extract_text() or "")
        except PdfError:
            raise
        except Exception as exc:  # pypdf surfaces malformed content streams as many error types
            logger.warning("page %s failed to extract: %s", number, exc)
            return Location(number=number, text="", error=_reason(exc))
    if not text and warnings.messages:
        reason = _NESTED if _nested(warnings.messages) else _describe(Exception(warnings.messages[0]))
        return Location(number=number, text="", error=reason)
    if _undecodable(text):
        return Location(number=number, text="", error="its text cannot be decoded (a font without a Unicode map)")
    return Location(number=number, text=text)


def _content_keys(page) -> list[tuple]:
    """What a page's text is made of, by object: the page object itself (listed again in the
    page tree), and its content streams with its resources (shared by another page object)."""
    keys = []
    if page.indirect_reference is not None:
        keys.append(("page", page.indirect_reference.idnum, page.indirect_reference.generation))
    contents = page.raw_get("/Contents") if "/Contents" in page else None
    if isinstance(contents, IndirectObject) and isinstance(contents.get_object(), ArrayObject):
        contents = contents.get_object()
    streams = contents if isinstance(contents, ArrayObject) else [contents]
    if all(isinstance(stream, IndirectObject) for stream in streams):  # an inline stream is nobody else's
        resources = page.raw_get("/Resources") if "/Resources" in page else None
        keys.append(("content", tuple(_object_key(stream) for stream in streams), _object_key(resources)))
    return keys


def _object_key(value) -> tuple | None:
    if value is None:
        return None
    if isinstance(value, IndirectObject):
        return (value.idnum, value.generation)
    return ("inline", id(value))  # the same Python object: one dictionary several pages hold


def _repeat(earlier: Location, number: int) -> Location:
    """Page `number`, whose content is `earlier`'s: the same outcome, read once."""
    if earlier.error:
        return Location(number=number, text="", error=earlier.error)
    return Location(number=number, text=earlier.text, repeat_of=earlier.repeat_of or earlier.number)


class _DecodeBudget:
    """The bytes of content a document's pages may unpack to, all pages read together."""

    def __init__(self, reader: PdfReader, name: str):
        self.name = name
        self.file_size = _stream_size(reader.stream)
        self.limit = max(DECODED_FLOOR_BYTES, DECODED_PER_FILE_BYTE * self.file_size)
        self.spent = 0

    def spend(self, size: int, *, page: int) -> None:
        self.spent += size
        if self.spent > self.limit:
            raise PdfError(
                f"{self.name} was refused at page {page}: its pages unpack to more than "
                f"{self.limit / 1024 / 1024:.0f} MB of content from a file of {self.file_size / 1024:.0f} kB, "
                "far more than any real document's pages (a damaged or hostile file)"
            )


def _stream_size(stream) -> int:
    position = stream.tell()
    try:
        stream.seek(0, os.SEEK_END)
        return stream.tell()
    finally:
        stream.seek(position)


def _undecodable(text: str) -> bool:
    letters = len(text) - text.count(" ")
    return letters > 0 and text.count("\ufffd") / letters > 0.3


def _describe(exc: BaseException) -> str:
    message = str(exc).strip() or exc.__class__.__name__
    return message if len(message) <= 200 else message[:197] + "..."


_NESTED = "objects in it are nested too deep to read"


def _nested(messages: list[str]) -> bool:
    return any(_PYPDF_NESTED in message for message in messages)


def _nested_reason(name: str) -> str:
    return f"{name} is damaged: {_NESTED}"


def _past_a_limit(exc: LimitReachedError) -> str:
    return f"goes past a limit pypdf sets against damaged or hostile files ({_describe(exc)})"


def _reason(exc: BaseException) -> str:
    """Why a page could not be read, in words a user can act on."""
    if isinstance(exc, RecursionError):
        return _NESTED
    if isinstance(exc, LimitReachedError):
        return f"it {_past_a_limit(exc)}"
    return _describe(exc)
