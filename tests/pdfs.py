"""PDFs made on the spot for tests: good ones, and each kind of bad one the corpus must survive."""

import io
import zlib
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
    """Pages with only vector drawings on them: no text layer, and no image for OCR to read."""
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


# --- scans: text drawn with Pillow, then turned, blurred or downscaled as a scanner would ---
SCAN_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def scan_image(lines: list[str], *, size: int = 30, width: int = 1100, rotate: float = 0, blur: float = 0,
               downscale: float = 1):
    """A greyscale page image with `lines` drawn on it (a 'scan' at about 150 dpi), then turned
    by `rotate` degrees (counter-clockwise), blurred and shrunk by `downscale`."""
    from PIL import Image, ImageDraw, ImageFilter, ImageFont

    font = ImageFont.truetype(SCAN_FONT, size)
    image = Image.new("L", (width, 60 + len(lines) * size * 2), 255)
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((40, 40 + i * size * 2), line, font=font, fill=0)
    if rotate:
        image = image.rotate(rotate, expand=True, fillcolor=255, resample=Image.BICUBIC)
    if blur:
        image = image.filter(ImageFilter.GaussianBlur(blur))
    if downscale != 1:
        image = image.resize((round(image.width / downscale), round(image.height / downscale)), Image.LANCZOS)
    return image


def image_pdf(images, *, dpi: float = 150) -> bytes:
    """A PDF with one image-only page per image, each page the image's size at `dpi`."""
    buffer = io.BytesIO()
    first, *rest = images
    first.save(buffer, "PDF", resolution=dpi, save_all=True, append_images=rest)
    return buffer.getvalue()


def mixed_pdf(pages) -> bytes:
    """Pages in order from ("text", str), ("scan", PIL image) and ("blank", None)."""
    pdf = FPDF(format="A4")
    pdf.set_creation_date(FIXED_DATE)
    pdf.set_auto_page_break(False)
    pdf.set_font("helvetica", size=10)
    for kind, content in pages:
        pdf.add_page()
        if kind == "text":
            pdf.set_xy(15, 15)
            pdf.multi_cell(180, 5, content)
        elif kind == "scan":  # a whole A4 page scanned at 150 dpi, the text at its top
            from PIL import Image

            page = Image.new("L", (1240, 1754), 255)
            page.paste(content, (0, 0))
            pdf.image(page, x=0, y=0, w=210, h=297)
    return bytes(pdf.output())


def slow_pdf(operations: int = 300_000) -> bytes:
    """A one-page PDF of a few kilobytes whose page takes pypdf seconds to read: its compressed
    content stream shows one letter `operations` times (5-10 s for 300,000 on 2 cores)."""
    reader = PdfReader(io.BytesIO(text_pdf(["A page that takes long to read."])))
    writer = PdfWriter(clone_from=reader)
    page = writer.pages[0]
    font = next(iter(page["/Resources"]["/Font"]))
    body = b"BT " + font.encode() + b" 10 Tf 20 800 Td " + b"(x) Tj 0.001 0 Td " * operations + b"ET"
    stream = StreamObject()
    stream.set_data(zlib.compress(body))
    stream[NameObject("/Filter")] = NameObject("/FlateDecode")
    page[NameObject("/Contents")] = writer._add_object(stream)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def padded_pdf(pages: list[str], *, megabytes: float) -> bytes:
    """text_pdf(pages) made about `megabytes` long by a stream of random bytes that no page draws
    (as a big embedded font or an attachment weighs): a big upload whose text reads at once."""
    import random

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(text_pdf(pages))))
    padding = StreamObject()
    padding.set_data(random.Random(len(pages)).randbytes(int(megabytes * 1024 * 1024)))
    writer._root_object[NameObject("/RagsiteTestPadding")] = writer._add_object(padding)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
