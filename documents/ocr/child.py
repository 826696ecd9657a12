"""The OCR child process: `python -m documents.ocr.child`, driven by OcrBackend over its stdin
and stdout (length-prefixed pickles). It builds the backend named in the "start" message, then
renders and recognises one page per "page" message, keeping the last PDF open."""

import os
import sys
import traceback

import numpy as np
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from django.utils.module_loading import import_string

from documents.ocr import _receive, _send

# A page is a scan, and is recognised, when images cover more of it than this: a page of vector
# drawings or a blank separator page is left as it is (empty), and so is a text page with a logo.
IMAGE_COVERAGE = 0.5
# A rendered page with fewer dark pixels than this share is blank: nothing to recognise.
BLANK_SHARE = 0.0005


def page_render(page, *, dpi: int, max_pixels: int):
    """The page as a greyscale PIL image at `dpi`, or at the resolution that keeps it within
    max_pixels. The page's own /Rotate is applied (as a viewer shows it)."""
    width, height = page.get_size()  # points, 1/72 inch
    scale = dpi / 72
    if width * height * scale * scale > max_pixels:
        scale = (max_pixels / (width * height)) ** 0.5
    return page.render(scale=scale, grayscale=True).to_pil().convert("L")


def image_coverage(page) -> float:
    """The share of the page's area that its image objects cover (overlaps counted twice)."""
    width, height = page.get_size()
    covered = 0.0
    for obj in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=3):
        left, bottom, right, top = obj.get_bounds()
        covered += max(0.0, min(right, width) - max(left, 0.0)) * max(0.0, min(top, height) - max(bottom, 0.0))
    return covered / max(1.0, width * height)


def is_blank(image) -> bool:
    pixels = np.asarray(image)
    return float((pixels < 128).mean()) < BLANK_SHARE


def main() -> None:
    # Whatever a library prints must not reach the pipe the parent reads replies from.
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    requests = sys.stdin.buffer
    _, backend_path, config = _receive(requests)
    try:
        engine = import_string(backend_path)(**config)
        engine.prepare()
    except Exception as exc:
        _send(replies, ("error", f"{exc.__class__.__name__}: {exc}"))
        return
    _send(replies, ("ready", ""))
    opened = (None, None)
    while True:
        try:
            _, path, number, text_layer = _receive(requests)
        except EOFError:
            return
        try:
            if opened[0] != path:
                if opened[1] is not None:
                    opened[1].close()
                opened = (path, pdfium.PdfDocument(path))
            page = opened[1][number - 1]
            if image_coverage(page) < IMAGE_COVERAGE:
                _send(replies, ("not scanned", ""))
                continue
            image = page_render(page, dpi=engine.dpi, max_pixels=engine.max_pixels)
            _send(replies, ("text", "" if is_blank(image) else engine.recognise(image)))
        except Exception as exc:  # one bad page: say why, and go on with the next
            traceback.print_exc()
            _send(replies, ("error", f"{exc.__class__.__name__}: {exc}"[:300]))


if __name__ == "__main__":
    main()
