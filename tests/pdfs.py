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


# --- hostile structures no PDF library writes: built object by object ---
HELVETICA = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"


def raw_pdf(objects: list[bytes]) -> bytes:
    """A PDF of these objects, numbered from 1 (the first is the catalog), with its xref table."""
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n%s\nendobj\n" % (number, body))
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    out.write(b"".join(b"%010d 00000 n \n" % offset for offset in offsets))
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def content_stream(operators: bytes) -> bytes:
    data = zlib.compress(operators, 9)
    return b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (len(data), data)


def raw_page(*, parent: int, contents: int, font: int, extra: bytes = b"") -> bytes:
    return (
        b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 595 842]%s /Resources << /Font << /F1 %d 0 R >> >> "
        b"/Contents %d 0 R >>" % (parent, extra, font, contents)
    )


def text_operators(text: str) -> bytes:
    return b"BT /F1 11 Tf 60 780 Td (" + text.encode("latin-1") + b") Tj ET"


def deep_page_tree_pdf(depth: int = 101, text: str = "A page at the bottom of a deep page tree.") -> bytes:
    """One page under `depth` nested /Pages nodes (pypdf stops past 100: LimitReachedError)."""
    # 1 catalog, 2 the root /Pages, 3 the font, 4 the content, 5.. the inner /Pages nodes, then the page
    nodes = [2, *range(5, 5 + depth - 1)]
    page = nodes[-1] + 1 if depth > 1 else 5
    objects = {1: b"<< /Type /Catalog /Pages 2 0 R >>", 3: HELVETICA, 4: content_stream(text_operators(text))}
    for i, node in enumerate(nodes):
        parent = b" /Parent %d 0 R" % nodes[i - 1] if i else b""
        kid = nodes[i + 1] if i + 1 < len(nodes) else page
        objects[node] = b"<< /Type /Pages /Kids [%d 0 R] /Count 1%s >>" % (kid, parent)
    objects[page] = raw_page(parent=nodes[-1], contents=4, font=3)
    return raw_pdf([objects[number] for number in sorted(objects)])


def repeated_page_pdf(times: int = 4900, operations: int = 20_000, text: str = "The pump moves water.") -> bytes:
    """One page listed `times` times in the page tree (34 kB for 4,900): its content shows `text`,
    then one letter `operations` times, which pypdf takes about 0.3 s to read."""
    body = text_operators(text)[:-2] + b" 0 -20 Td " + b"(x) Tj 0.001 0 Td " * operations + b"ET"
    kids = b" ".join([b"5 0 R"] * times)
    return raw_pdf([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, times),
        HELVETICA,
        content_stream(body),
        raw_page(parent=2, contents=4, font=3),
    ])


def nested_pdf(depth: int = 20_000, text: str = "Text nobody can reach.") -> bytes:
    """A page whose dictionary holds a dictionary nested `depth` deep before its /Resources and
    /Contents: past Python's recursion limit pypdf keeps what it read before, a page without content."""
    nested = b"<< /A " * depth + b"1" + b" >>" * depth
    return raw_pdf([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [5 0 R] /Count 1 >>",
        HELVETICA,
        content_stream(text_operators(text)),
        raw_page(parent=2, contents=4, font=3, extra=b" /PieceInfo " + nested),
    ])


def unpacking_pdf(megabytes: int = 12, text: str = "A page mostly made of blanks.") -> bytes:
    """One page of a few kilobytes whose content stream unpacks to `megabytes` MB, nearly all of
    it blanks between two text operators (pypdf reads blanks one by one)."""
    body = text_operators(text)[:-2] + b" " * (megabytes * 1024 * 1024) + b"ET"
    return raw_pdf([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [5 0 R] /Count 1 >>",
        HELVETICA,
        content_stream(body),
        raw_page(parent=2, contents=4, font=3),
    ])


def shared_stream_pdf(pages: int = 200, megabytes: int = 1, text: str = "A page like every other.") -> bytes:
    """`pages` page objects that share one content stream (`megabytes` MB unpacked, blanks mostly)
    but each have resources of their own: no two pages are the same object."""
    body = text_operators(text)[:-2] + b" " * (megabytes * 1024 * 1024) + b"ET"
    kids = b" ".join(b"%d 0 R" % (5 + i) for i in range(pages))
    return raw_pdf([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, pages),
        HELVETICA,
        content_stream(body),
        *[raw_page(parent=2, contents=4, font=3) for _ in range(pages)],
    ])
