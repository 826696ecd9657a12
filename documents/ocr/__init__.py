"""OCR for pages that have no usable text layer.

A backend is named by settings.RAGSITE_OCR ({"BACKEND": dotted path, "OPTIONS": {...}}) and got
with get_ocr(). Rendering and recognition run in a child process of the backend's own
(documents.ocr.child), one page at a time, under a deadline: a thread cannot be stopped, and
native code (pdfium, onnxruntime, tesseract) stuck on one page would keep its CPU and memory until
it returned; a process over the limit is killed, the page is listed with the reason, and the next
page gets a fresh process. A crash (out of memory on a huge page) takes only the child down.

This package reads no Django settings outside get_ocr(): the child runs without them."""

import logging
import os
import pickle
import select
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

from documents.text.normalise import normalise_text
from documents.backends import backend

logger = logging.getLogger(__name__)

_ROOT = Path(__file__).resolve().parents[2]  # the project root, for the child's imports
_HEADER = struct.Struct("<Q")


@dataclass(frozen=True)
class OcrResult:
    text: str = ""  # the recognised text, raw (the caller normalises it)
    error: str = ""  # set when the page could not be recognised
    not_scanned: bool = False  # images cover little of the page: it was not recognised
    seconds: float = 0.0


class OcrBackend:
    """Base class: subclasses implement recognise(image) -> str, which runs in the child process.

    dpi: the resolution pages are rendered at; max_pixels: the most pixels a rendered page may
    have (a bigger page is rendered at a lower resolution, so that a 9000x9000 scan cannot take the
    memory: 10 megapixels is an A4 page at about 320 dpi, 10 MB in greyscale); page_seconds: the
    time one page may take, rendering included; min_text_chars: a page whose text layer has fewer
    letters is recognised when images cover most of it."""

    enabled = True
    name = "ocr"

    def __init__(self, *, dpi: int = 200, max_pixels: int = 10_000_000, page_seconds: float = 120.0,
                 start_seconds: float = 120.0, min_text_chars: int = 20, **options):
        self.min_text_chars = min_text_chars
        self.dpi = dpi
        self.max_pixels = max_pixels
        self.page_seconds = page_seconds
        self.start_seconds = start_seconds
        self.options = options
        self._child: subprocess.Popen | None = None
        self._lock = threading.Lock()

    # --- in the child process ---
    def recognise(self, image) -> str:  # pragma: no cover - subclasses
        raise NotImplementedError

    def prepare(self) -> None:
        """Load the model (in the child, once)."""

    # --- in the calling process ---
    def page_recognise(self, path, page_number: int, *, text_layer: str = "") -> OcrResult:
        """Render page `page_number` (1-based) of the PDF at `path` and recognise it, within
        page_seconds, when images cover most of it (a scan); other pages are not recognised
        (not_scanned). Never raises for a bad page: the reason is in OcrResult.error."""
        began = time.monotonic()
        with self._lock:
            try:
                child = self._started()
                _send(child.stdin, ("page", str(path), page_number, text_layer))
                reply = _receive(child.stdout, deadline=began + self.page_seconds)
            except TimeoutError:
                self.close()
                return OcrResult(error=f"OCR gave up on it after {self.page_seconds:g} s (settings.RAGSITE_OCR page_seconds option)",
                                 seconds=time.monotonic() - began)
            except (EOFError, OSError, pickle.UnpicklingError) as exc:
                code = self._child.poll() if self._child else None
                self.close()
                why = "out of memory?" if code in (-9, 137) else str(exc) or exc.__class__.__name__
                return OcrResult(error=f"the OCR process stopped on it (exit code {code}: {why})",
                                 seconds=time.monotonic() - began)
        kind, payload = reply
        seconds = time.monotonic() - began
        if kind == "text":
            return OcrResult(text=payload, seconds=seconds)
        if kind == "not scanned":
            return OcrResult(not_scanned=True, seconds=seconds)
        return OcrResult(error=f"OCR failed on it: {payload}", seconds=seconds)

    def close(self) -> None:
        child, self._child = self._child, None
        if child is not None and child.poll() is None:
            child.kill()
        if child is not None:
            child.wait()
            for stream in (child.stdin, child.stdout):
                try:
                    stream.close()
                except OSError:
                    pass

    def _started(self) -> subprocess.Popen:
        if self._child is not None and self._child.poll() is None:
            return self._child
        self.close()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(_ROOT), os.environ.get("PYTHONPATH")]))}
        child = subprocess.Popen(
            [sys.executable, "-m", "documents.ocr.child"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            cwd=_ROOT, env=env,
        )
        self._child = child
        config = {"dpi": self.dpi, "max_pixels": self.max_pixels, "page_seconds": self.page_seconds, **self.options}
        _send(child.stdin, ("start", f"{type(self).__module__}.{type(self).__qualname__}", config))
        kind, payload = _receive(child.stdout, deadline=time.monotonic() + self.start_seconds)
        if kind != "ready":
            self.close()
            raise OSError(f"the OCR engine could not start: {payload}")
        return child

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


class DisabledOcr(OcrBackend):
    """No OCR: a page without a text layer stays empty, and a scan fails as needing OCR."""

    enabled = False
    name = "disabled"

    def __init__(self, **options):
        super().__init__()

    def page_recognise(self, path, page_number: int, *, text_layer: str = "") -> OcrResult:
        return OcrResult(not_scanned=True)


def _send(stream, message) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def _receive(stream, *, deadline: float | None = None):
    size = _HEADER.unpack(_read(stream, _HEADER.size, deadline))[0]
    return pickle.loads(_read(stream, size, deadline))


def _read(stream, size: int, deadline: float | None) -> bytes:
    fd = stream.fileno()
    parts, left = [], size
    while left:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise TimeoutError
        part = os.read(fd, min(left, 1 << 20))
        if not part:
            raise EOFError("the OCR process closed its output")
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def get_ocr() -> OcrBackend:
    """The OCR backend settings.RAGSITE_OCR names, one per process."""
    return backend("RAGSITE_OCR")


def page_with_ocr(page, *, ocr: OcrBackend, path, page_count: int, note=None):
    """The page as ingest should take it (a documents.extraction.PageText): itself when its text
    layer is usable, or it is not a scan (images cover little of it), or OCR is off, or it failed
    to read; otherwise the text recognised from its image (ocr=True), or the reason recognition
    failed. `note(text)` is told which page is being
    recognised."""
    if not ocr.enabled or page.error:
        return page
    letters = sum(1 for char in page.text if char.isalnum())
    if letters >= ocr.min_text_chars:
        return page
    if note is not None:
        note(f"OCR: page {page.number} of {page_count}")
    result = ocr.page_recognise(path, page.number, text_layer=page.text)
    if result.not_scanned:
        return page
    logger.info("OCR page %s: %.1f s%s", page.number, result.seconds, f" ({result.error})" if result.error else "")
    if result.error:
        return page if page.text else replace(page, error=result.error)
    text = normalise_text(result.text)
    if not text:
        return page
    return replace(page, text=text, ocr=True)
