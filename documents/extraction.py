"""Text out of PDFs, one page at a time, with errors a user can act on."""

import logging
import os
import threading
from dataclasses import dataclass
from typing import Iterator

from pypdf import PdfReader
from pypdf.errors import FileNotDecryptedError, PdfReadError

from documents.text.normalise import normalise_text

logger = logging.getLogger(__name__)


class PdfError(Exception):
    """The file cannot be ingested; the message is shown to the user as it is."""


@dataclass(frozen=True)
class PageText:
    number: int  # 1-based
    text: str  # normalised; "" when the page has no text layer
    error: str = ""  # set when the page could not be read at all
    ocr: bool = False  # the text was recognised from the page's image (documents.ocr)


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
    try:
        reader = PdfReader(source, strict=False)
        if reader.is_encrypted:
            # Files with only an owner password (print/copy restrictions) open with "".
            try:
                reader.decrypt("")
            except Exception:  # pypdf raises several types for unsupported algorithms
                pass
            try:
                page_count = len(reader.pages)
            except FileNotDecryptedError:
                raise PdfError(f"{name} is encrypted and needs a password to open; upload an unlocked copy")
        else:
            page_count = len(reader.pages)
    except PdfError:
        raise
    except FileNotDecryptedError:
        raise PdfError(f"{name} is encrypted and needs a password to open; upload an unlocked copy")
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, OSError, RecursionError) as exc:
        raise PdfError(f"{name} is damaged or truncated and cannot be read ({_describe(exc)})") from exc
    if page_count == 0:
        raise PdfError(f"{name} has no pages that can be read (its page tree is empty or broken)")
    return reader


class _PypdfWarnings(logging.Handler):
    """Collects what pypdf logs while this thread reads a page: in its lenient mode a corrupt
    content stream is logged and read as an empty page, which must not pass for a blank one."""

    def __init__(self):
        super().__init__(level=logging.WARNING)
        self.thread = threading.get_ident()
        self.messages: list[str] = []

    def emit(self, record):
        if record.thread == self.thread:
            self.messages.append(record.getMessage())


def pdf_pages(reader: PdfReader, *, start: int = 1, stop: int | None = None) -> Iterator[PageText]:
    """Yield pages start..stop (1-based, inclusive) one by one; a page that fails carries its error."""
    last = len(reader.pages) if stop is None else min(stop, len(reader.pages))
    pypdf_logger = logging.getLogger("pypdf")
    for number in range(start, last + 1):
        warnings = _PypdfWarnings()
        pypdf_logger.addHandler(warnings)
        try:
            text = normalise_text(reader.pages[number - 1].extract_text() or "")
        except Exception as exc:  # pypdf surfaces malformed content streams as many error types
            logger.warning("page %s failed to extract: %s", number, exc)
            yield PageText(number=number, text="", error=_describe(exc))
            continue
        finally:
            pypdf_logger.removeHandler(warnings)
        if not text and warnings.messages:
            yield PageText(number=number, text="", error=_describe(Exception(warnings.messages[0])))
        elif _undecodable(text):
            yield PageText(number=number, text="", error="its text cannot be decoded (a font without a Unicode map)")
        else:
            yield PageText(number=number, text=text)


def _undecodable(text: str) -> bool:
    letters = len(text) - text.count(" ")
    return letters > 0 and text.count("\ufffd") / letters > 0.3


def _describe(exc: BaseException) -> str:
    message = str(exc).strip() or exc.__class__.__name__
    return message if len(message) <= 200 else message[:197] + "..."
