"""PDFs as one implementation of the extraction interface: pages are its locations, read by
documents.extraction (its limits against hostile PDFs) and recognised by OCR where a page has
no usable text layer (documents.ocr)."""

from typing import Callable, Iterator

from documents.extraction import PdfError, pdf_open, pdf_pages, pdf_title
from documents.formats.base import Extractor, Location, Opened


class PdfExtractor(Extractor):
    format = "pdf"
    unit = "page"

    def check(self, file, *, filename: str) -> int:
        """The PDF's page count: a file pypdf cannot count pages of is refused before it is stored."""
        try:
            return len(pdf_open(file, filename=filename).pages)
        finally:
            file.seek(0)

    def open(self, path, *, filename: str) -> Opened:
        reader = pdf_open(path, filename=filename)
        return Opened(count=len(reader.pages), title=pdf_title(reader), source=(reader, path))

    def locations(self, opened: Opened, *, filename: str, note: Callable[[str], None] | None = None) -> Iterator[Location]:
        from documents.ocr import get_ocr, page_with_ocr  # settings-bound: only where pages are read

        reader, path = opened.source
        ocr = get_ocr()
        for page in pdf_pages(reader, filename=filename):  # one pass: it knows the pages it has read
            if page.repeat_of:  # recognised and chunked as the page it repeats
                yield page
            else:
                yield page_with_ocr(page, ocr=ocr, path=path, page_count=opened.count, note=note)


__all__ = ["PdfExtractor", "PdfError"]
