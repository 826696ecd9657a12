"""PDFs made on the spot for tests: good ones, and each kind of bad one the corpus must survive."""

import io
from datetime import datetime, timezone

from fpdf import FPDF
from pypdf import PdfReader, PdfWriter
from pypdf.generic import NameObject, StreamObject

FIXED_DATE = datetime(2024, 1, 1, tzinfo=timezone.utc)


def text_pdf(pages: list[str]) -> bytes:
    """A PDF with one page per string, the text set in Helvetica (latin-1)."""
    pdf = FPDF(format="A4")
    pdf.set_creation_date(FIXED_DATE)  # the same pages give the same bytes, and checksum
    pdf.set_auto_page_break(False)
    pdf.set_font("helvetica", size=10)
    for text in pages:
        pdf.add_page()
        pdf.set_xy(15, 15)
        if text:
            pdf.multi_cell(180, 5, text)
    return bytes(pdf.output())


def scanned_pdf(page_count: int = 2) -> bytes:
    """Pages with only drawings on them: what a scan without a text layer looks like to pypdf."""
    pdf = FPDF(format="A4")
    pdf.set_creation_date(FIXED_DATE)
    for _ in range(page_count):
        pdf.add_page()
        pdf.set_fill_color(40, 40, 40)
        for row in range(20):
            pdf.rect(20, 20 + row * 12, 160 - row * 3, 6, style="F")
    return bytes(pdf.output())


def encrypted_pdf(pages: list[str], *, user_password: str = "secret", owner_password: str = "owner") -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(text_pdf(pages))))
    writer.encrypt(user_password=user_password, owner_password=owner_password, algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def truncated_pdf(pages: list[str], keep: float = 0.4) -> bytes:
    data = text_pdf(pages)
    return data[: int(len(data) * keep)]


def pdf_with_broken_pages(pages: list[str], broken: list[int]) -> bytes:
    """A PDF whose pages numbered in `broken` (1-based) have a content stream that cannot be read."""
    reader = PdfReader(io.BytesIO(text_pdf(pages)))
    writer = PdfWriter(clone_from=reader)
    for number in broken:
        # A content stream that claims to be Flate-compressed but holds garbage.
        stream = StreamObject()
        stream.set_data(b"\x00\x01 this is not zlib data " * 8)
        stream[NameObject("/Filter")] = NameObject("/FlateDecode")
        writer.pages[number - 1][NameObject("/Contents")] = writer._add_object(stream)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
