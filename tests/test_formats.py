"""Word, HTML, Markdown and plain text through the upload, ingest, search, answer and citation
paths PDFs take (issue 34): the format told by content, sections with their heading paths and
anchors, sources that cite them, and the views a citation opens."""

import io
import json
import re

import pytest
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from documents.formats import get_extractor
from documents.formats.base import ExtractionError
from documents.formats.detect import format_detect
from documents.ingest import document_ingest
from documents.models import Chunk, Document
from documents.search.services import index_rebuild_request
from documents.services import document_create
from tests import documents_other as other
from tests import pdfs

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]

DOCX = other.docx_file(
    [(1, "Falcon handbook", ["Welcome."]), (2, "Flight", ["The Falcon 3 drone flies for 42 minutes."]),
     (2, "Charging", ["The battery charges in 90 minutes from a wall socket."])],
    bookmark="falcon-top", table=[["Part", "Weight"], ["Battery", "310 g"]],
)


def ingested(data: bytes, name: str) -> Document:
    document = document_create(file=io.BytesIO(data), filename=name, enqueue=False)
    outcome = document_ingest(document_id=document.pk, rebuild_index=False)
    document.refresh_from_db()
    assert outcome.status == document.status == Document.Status.READY, document.error
    return document


def chunks(document: Document) -> list[Chunk]:
    return list(Chunk.objects.filter(document=document, generation=document.generation).order_by("ordinal"))


@pytest.mark.parametrize(
    "data, name, expected",
    [
        (pdfs.text_pdf(["A page."]), "scan.txt", "pdf"),
        (DOCX, "handbook.bin", "docx"),
        (other.HTML_PAGE, "faq.txt", "html"),
        (b"<p>A fragment</p>", "fragment.html", "html"),
        (other.MARKDOWN, "guide.md", "markdown"),
        (b"# Notes\n\nNo extension, but a Markdown heading.", "notes", "markdown"),
        (other.TEXT, "manual.txt", "text"),
        (other.TEXT.decode().encode("utf-16"), "manual.txt", "text"),
        (other.TEXT, "manual.pdf", "text"),  # text with a PDF's name is text
    ],
)
def test_the_format_is_told_by_the_content(data, name, expected):
    names = __import__("documents.formats.detect", fromlist=["zip_names"]).zip_names(io.BytesIO(data))
    assert format_detect(data[:65536], filename=name, zip_names=names) == expected


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"\x89PNG\r\n\x1a\n" + bytes(100), "photo.docx is a PNG image, not a document ragsite reads"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100), "photo.docx is an old Microsoft Office file (Word 97-2003"),
        (other.docx_with_part("xl/workbook.xml", b"<x/>"), "photo.docx is an Excel workbook"),
        (bytes(range(256)) * 8, "photo.docx is binary data, not a document ragsite reads"),
    ],
    ids=["png", "doc", "xlsx-member", "binary"],
)
def test_a_file_that_is_none_of_them_is_refused_at_upload_naming_what_it_is(data, reason):
    if b"xl/workbook.xml" in data:  # a zip that holds both: Word's member wins, so drop it
        data = _without(data, "word/document.xml")
    with pytest.raises(ValidationError) as refused:
        document_create(file=io.BytesIO(data), filename="photo.docx", enqueue=False)
    assert refused.value.messages[0].startswith(reason)
    assert Document.objects.count() == 0


def _without(data: bytes, name: str) -> bytes:
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            if item.filename != name:
                target.writestr(item, source.read(item.filename))
    return out.getvalue()


def test_a_word_file_becomes_sections_with_heading_paths_bookmarks_and_its_table():
    document = ingested(DOCX, "handbook.docx")

    assert document.format == "docx" and document.file.name.endswith(".docx")
    assert document.title == "Falcon handbook" and document.page_count == 3
    found = {(c.section, c.anchor) for c in chunks(document)}
    assert ("Falcon handbook", "falcon-top") in found  # the heading's bookmark
    assert ("Falcon handbook › Flight", "flight") in found
    charging = [c for c in chunks(document) if c.section.endswith("Charging")]
    assert "90 minutes" in charging[0].text and "Battery | 310 g" in charging[0].text  # the table's row


def test_html_leaves_navigation_footer_and_script_out_and_cites_definition_terms():
    document = ingested(other.HTML_PAGE, "faq.html")
    texts = " ".join(c.text for c in chunks(document))

    assert document.format == "html" and document.title == "Falcon FAQ"
    assert "42 minutes" in texts and "calibrate" in texts
    assert "Navigation-only" not in texts and "footer words" not in texts and "hacked" not in texts
    by_section = {c.section: c.anchor for c in chunks(document)}
    assert by_section["Falcon FAQ › Battery"] == "battery"  # the heading's own id
    assert by_section["Falcon FAQ › Battery › How long does the battery last?"] == "how-long-does-the-battery-last"
    assert by_section["Falcon FAQ › Battery › How do I store the battery over winter?"] == "how-do-i-store-the-battery-over-winter"
    assert by_section["Falcon FAQ › Compass"] == "compass"


def test_markdown_and_text_sections_take_slugs_and_underlined_headings():
    markdown = ingested(other.MARKDOWN, "guide.md")
    text = ingested(other.TEXT, "pump.txt")

    assert {(c.section, c.anchor) for c in chunks(markdown)} >= {("Kettle guide › Descaling", "descaling"), ("Kettle guide › Safety", "safety")}
    assert any("Cord | 1.2 m" in c.text for c in chunks(markdown))
    assert markdown.title == "Kettle guide"
    assert {(c.section, c.anchor) for c in chunks(text)} >= {("Pump manual › Priming the pump", "priming-the-pump")}
    assert text.format == "text" and text.title == "Pump manual"


@pytest.mark.django_db(transaction=True)  # questions are searched in threads of their own
def test_sources_carry_section_and_anchor_and_open_the_place(client):
    html = ingested(other.HTML_PAGE, "faq.html")
    markdown = ingested(other.MARKDOWN, "guide.md")
    pdf = ingested(pdfs.text_pdf(["The Falcon 3 manual page about warranty: two years."]), "falcon.pdf")
    index_rebuild_request(in_process=True)

    answer = client.post("/query", json.dumps({"question": "How long does the Falcon battery last?", "top_k": 10}),
                         content_type="application/json").json()
    assert "sources" in answer, answer
    sources = answer["sources"]
    by_document = {s["document_id"]: s for s in reversed(sources)}

    cited = by_document[html.pk]
    assert cited["page"] is None and cited["section"].startswith("Falcon FAQ › Battery")
    assert cited["url"] == f"{html.file.url}#{cited['anchor']}"
    assert by_document[pdf.pk]["url"] == f"{pdf.file.url}#page=1" and by_document[pdf.pk]["section"] == ""
    descaling = client.post("/query", json.dumps({"question": "How often should I descale the kettle?"}),
                            content_type="application/json").json()["sources"][0]
    assert descaling["document_id"] == markdown.pk
    assert re.fullmatch(rf"/files/text/{markdown.file.name}\?chunk={descaling['chunk_id']}#descaling", descaling["url"])


def test_the_prompt_names_a_section_where_a_pdf_names_its_page():
    from querying.prompts import Passage, prompt_build

    passages = [Passage(1, 1, 1, "FAQ", 3, "Text.", 1.0, section="FAQ › Battery"), Passage(2, 2, 2, "Manual", 4, "More.", 0.9)]
    system = prompt_build(question="q", passages=passages, token_budget=2000).system
    assert '<source n="1" title="FAQ" section="FAQ › Battery">' in system
    assert '<source n="2" title="Manual" page="4">' in system


def test_the_html_original_is_served_sanitised_under_a_policy_that_runs_nothing(client):
    document = ingested(other.HTML_PAGE, "faq.html")

    response = client.get(document.file.url)
    page = response.content.decode()

    assert response.status_code == 200 and response["Content-Type"] == "text/html; charset=utf-8"
    policy = response["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "sandbox" in policy and "script-src" not in policy
    assert "<script" not in page and "onclick" not in page and "hacked" not in page
    assert 'id="compass"' in page and 'id="how-do-i-store-the-battery-over-winter"' in page


def test_the_text_view_marks_the_passage_and_gives_it_the_sections_anchor(client):
    document = ingested(other.TEXT, "pump.txt")
    chunk = next(c for c in chunks(document) if c.anchor == "winter-storage")

    page = client.get(f"/files/text/{document.file.name}", {"chunk": chunk.pk}).content.decode()

    assert f'<mark id="winter-storage">{chunk.text}</mark>' in page
    assert 'id="priming-the-pump"' in page and "<script" not in page


def test_the_files_a_citation_opens_follow_the_pdf_rule(client, settings):
    settings.RAGSITE_ANONYMOUS_QUERIES = True
    document = document_create(file=io.BytesIO(other.MARKDOWN), filename="guide.md", enqueue=False)  # queued, not ready

    assert client.get(document.file.url).status_code == 404
    assert client.get(f"/files/text/{document.file.name}").status_code == 404
    document_ingest(document_id=document.pk, rebuild_index=False)
    assert client.get(f"/files/text/{document.file.name}").status_code == 200
    settings.RAGSITE_ANONYMOUS_QUERIES = False
    assert client.get(f"/files/text/{document.file.name}").status_code in (401, 403)


def test_the_api_and_the_admin_take_the_new_formats(staff_client):
    upload = SimpleUploadedFile("guide.md", other.MARKDOWN, content_type="text/markdown")
    response = staff_client.post("/api/documents/", {"file": upload})
    assert response.status_code == 201 and Document.objects.get().format == "markdown"

    upload = SimpleUploadedFile("handbook.docx", DOCX)
    staff_client.post("/admin/documents/document/add/", {"files": [upload]}, follow=True)
    assert Document.objects.filter(format="docx").count() == 1


def test_the_ingest_command_takes_every_format_from_a_folder(tmp_path):
    from django.core.management import call_command

    for name, data in [("a.md", other.MARKDOWN), ("b.txt", other.TEXT), ("c.html", other.HTML_PAGE), ("d.docx", DOCX),
                       ("e.png", b"\x89PNG\r\n\x1a\n")]:
        (tmp_path / name).write_bytes(data)
    call_command("ingest", str(tmp_path), "--no-progress", stdout=io.StringIO())
    assert sorted(Document.objects.values_list("format", "status")) == [
        ("docx", "ready"), ("html", "ready"), ("markdown", "ready"), ("text", "ready")]


def test_an_extractor_is_named_by_a_setting_and_a_bad_one_says_which(settings):
    assert get_extractor("pdf").unit == "page" and get_extractor("html").unit == "section"
    with pytest.raises(ExtractionError):
        get_extractor("odt")
    settings.RAGSITE_EXTRACTORS = {**settings.RAGSITE_EXTRACTORS, "text": {"BACKEND": "no.such.Extractor"}}
    with pytest.raises(ImproperlyConfigured, match=r"RAGSITE_EXTRACTORS\['text'\]"):
        get_extractor("text")
