"""Documents of the section-based formats, made in the test (as tests/pdfs.py makes PDFs): a Word
file with headings, a bookmark and a table (python-docx), HTML, Markdown and plain text, and the
hostile ones tests/test_hostile_formats.py feeds to every way in."""

import io
import zipfile


def docx_file(sections: list[tuple[int, str, list[str]]], *, bookmark: str = "", table: list[list[str]] = ()) -> bytes:
    """A .docx whose sections are (heading level, heading, paragraphs); the first heading carries
    `bookmark` when given, and `table` follows the last section."""
    import docx
    from docx.oxml.ns import qn
    from docx.oxml import OxmlElement

    document = docx.Document()
    document.core_properties.title = "Falcon handbook"
    for i, (level, heading, paragraphs) in enumerate(sections):
        paragraph = document.add_heading(heading, level=level)
        if i == 0 and bookmark:
            start, end = OxmlElement("w:bookmarkStart"), OxmlElement("w:bookmarkEnd")
            start.set(qn("w:id"), "1"), start.set(qn("w:name"), bookmark), end.set(qn("w:id"), "1")
            paragraph._p.insert(0, start), paragraph._p.append(end)
        for text in paragraphs:
            document.add_paragraph(text)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, text in enumerate(row):
                grid.cell(r, c).text = text
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def docx_with_part(name: str, data: bytes, *, compress: bool = True) -> bytes:
    """A real .docx with one part replaced (or added): a hostile document.xml, a bomb."""
    base = docx_file([(1, "Title", ["Some text."])])
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(base)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            if item.filename != name:
                target.writestr(item, source.read(item.filename))
        target.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED)
    return out.getvalue()


HTML_PAGE = b"""<!DOCTYPE html>
<html><head><title>Falcon FAQ</title><script>document.title = "hacked"</script></head>
<body>
<nav class="menu"><a href="/">Home</a> Products Support Navigation-only words</nav>
<h1>Falcon FAQ</h1>
<h2 id="battery">Battery</h2>
<dl><dt>How long does the battery last?</dt>
<dd><p>The Falcon 3 battery lasts 42 minutes in the air.</p></dd>
<dt>How do I store the battery over winter?</dt>
<dd><p>Store it at 60 percent charge in a cool room.</p></dd></dl>
<h2>Compass</h2>
<p onclick="alert(1)">To calibrate the compass, hold the drone level and rotate it twice.</p>
<footer>Copyright Falcon footer words</footer>
</body></html>
"""

MARKDOWN = """# Kettle guide

Intro text about the kettle.

## Descaling

Descale the kettle every month with white vinegar.

## Safety

| Part | Limit |
| --- | --- |
| Cord | 1.2 m |

The kettle switches itself off when the water boils.
""".encode()

TEXT = """Pump manual
===========

Read this first.

Priming the pump
----------------

Fill the housing with water before the first start; a dry pump overheats within a minute.

Winter storage
--------------

Drain the pump and keep it above freezing.
""".encode()


def zip_bomb_docx(megabytes: int) -> bytes:
    """A Word file with one part of `megabytes` MB of zeros: it packs to a thousandth of that."""
    return docx_with_part("word/media/image1.png", bytes(megabytes * 1024 * 1024))


def random_docx(megabytes: int) -> bytes:
    """A Word file with an incompressible part: big unpacked, at an honest ratio."""
    import os

    return docx_with_part("word/media/image1.png", os.urandom(megabytes * 1024 * 1024), compress=False)


_W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
LAUGHS = ("<?xml version=\"1.0\"?>\n<!DOCTYPE w:document [\n<!ENTITY lol \"lol\">\n"
          + "".join(f"<!ENTITY lol{i} \"{('&lol' + (str(i - 1) if i > 1 else '') + ';') * 10}\">\n" for i in range(1, 10))
          + f"]>\n<w:document {_W}><w:body><w:p><w:r><w:t>&lol9;</w:t></w:r></w:p></w:body></w:document>").encode()
EXTERNAL = (f"<?xml version=\"1.0\"?>\n<!DOCTYPE w:document [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\n"
            f"<w:document {_W}><w:body><w:p><w:r><w:t>secret: &xxe;</w:t></w:r></w:p></w:body></w:document>").encode()


def deep_html(depth: int) -> bytes:
    return b"<!DOCTYPE html><html><body><h1>Deep</h1>" + b"<div>" * depth + b"buried text" + b"</div>" * depth + b"</body></html>"


def single_line_text(megabytes: int) -> bytes:
    """A text file of `megabytes` MB on one line, words without a full stop or a line break."""
    words = b"pump valve housing seal gasket impeller motor shaft bearing winter "
    return (words * (megabytes * 1024 * 1024 // len(words) + 1))[: megabytes * 1024 * 1024]


HOSTILE_HTML = b"""<!DOCTYPE html><html><head><title>Tricks</title>
<meta http-equiv="refresh" content="0;url=https://example.invalid/"><base href="https://example.invalid/">
<link rel="stylesheet" href="https://example.invalid/x.css"><style>@import url(https://example.invalid/y.css);</style>
<script>window.ran = (window.ran || 0) + 1;</script></head>
<body onload="window.ran = (window.ran || 0) + 1">
<h1 id="tricks">Tricks</h1>
<p>Real text about the valve: <a href="javascript:window.ran=1">a javascript link</a>
<a href=" JaVaScRiPt:window.ran=1">spaced</a> <a href="data:text/html,<script>alert(1)</script>">data</a></p>
<img src="https://example.invalid/pixel.png" onerror="window.ran = 1">
<svg onload="window.ran = 1"><script>window.ran = 1</script></svg>
<iframe srcdoc="<script>parent.ran = 1</script>"></iframe>
<object data="https://example.invalid/x.swf"></object><embed src="https://example.invalid/y">
<form action="https://example.invalid/"><input autofocus onfocus="window.ran = 1"></form>
<math><mtext><table><mglyph><style><img src=x onerror="window.ran=1"></style></mglyph></table></mtext></math>
<noscript><p title="</noscript><img src=x onerror=window.ran=1>"></p></noscript>
<h2 id="second">Second part</h2><p style="background:url(https://example.invalid/z.png)">The valve opens at 3 bar.</p>
</body></html>"""
