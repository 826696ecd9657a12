"""Files of the new formats made to hurt (issue 34): zip bombs, entity expansion and external
entities in a Word file, HTML nested 100,000 deep, 50 MB of text on one line, broken UTF-8 and
UTF-16, HTML full of scripts and event handlers. Each is refused at upload, ends `failed` with its
reason, or ends `ready` with its text, within seconds and bounded memory (measured in a child
process that reads the file as the worker does), and the worker goes on to the next document.
That the served copy of a hostile page runs nothing in a real browser: tests/test_page_browser.py."""

import codecs
import io
import json
import subprocess
import sys
import time

import pytest
from django.core.exceptions import ValidationError

from documents.ingest import document_ingest
from documents.models import Chunk, Document
from documents.services import document_create
from tests import documents_other as other

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]

# What reading one hostile file may take in a fresh process (a bare process with Django's
# settings, lxml and python-docx imported takes about 140 MB here).
PEAK_MB = 600

EXTRACTORS = {
    "docx": "documents.formats.docx.DocxExtractor", "html": "documents.formats.html.HtmlExtractor",
    "text": "documents.formats.text.TextExtractor", "markdown": "documents.formats.markdown.MarkdownExtractor",
}

_CHILD = """
import importlib, json, sys, time
module, _, name = sys.argv[1].rpartition(".")
extractor = getattr(importlib.import_module(module), name)()
started = time.monotonic()
try:
    opened = extractor.open(sys.argv[2], filename=sys.argv[3])
    outcome = {"status": "ready", "locations": opened.count, "notes": opened.notes,
               "text": " ".join(location.text for location in opened.source)[:2000]}
except Exception as exc:
    outcome = {"status": "failed", "error": f"{exc.__class__.__name__}: {exc}"}
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(json.dumps({**outcome, "seconds": round(time.monotonic() - started, 2), "peak_mb": peak // 1024}))
"""


def read_in_child(data: bytes, name: str, kind: str, tmp_path) -> dict:
    """How a fresh process reads the file (outcome, seconds, peak resident memory): what one
    worker would spend on it, measured apart from the embedding model a worker holds."""
    path = tmp_path / name
    path.write_bytes(data)
    done = subprocess.run([sys.executable, "-c", _CHILD, EXTRACTORS[kind], str(path), name],
                          capture_output=True, text=True, timeout=120, cwd=str(__import__("pathlib").Path(__file__).parents[1]))
    assert done.returncode == 0, done.stderr[-2000:]
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"\n{name} ({len(data) / 1024:.0f} kB): {measured['status']} {measured.get('error', '')[:120]} "
          f"in {measured['seconds']} s, peak {measured['peak_mb']} MB")
    assert measured["peak_mb"] < PEAK_MB, measured
    return measured


def stored_anyway(data: bytes, name: str, document_format: str) -> Document:
    """A document whose stored file is `data`, as the worker meets it when the upload check was
    passed (an older check, a file changed on disk)."""
    placeholder = {"docx": other.docx_file([(1, "Placeholder", ["Text."])]), "html": b"<html><body><p>x</p></body></html>",
                   "text": b"placeholder", "markdown": b"# placeholder"}[document_format]
    document = document_create(file=io.BytesIO(placeholder), filename=name, enqueue=False)
    assert document.format == document_format
    with open(document.file.path, "wb") as stored:
        stored.write(data)
    return document


def ingest_timed(document: Document):
    from documents.embedding import get_embedder

    get_embedder()  # loaded once per worker, before any document's clock starts
    started = time.monotonic()
    outcome = document_ingest(document_id=document.pk, rebuild_index=False)
    document.refresh_from_db()
    return outcome, time.monotonic() - started


def then_the_next_document_is_read():
    good = document_create(file=io.BytesIO(other.TEXT), filename="next.txt", enqueue=False)
    assert document_ingest(document_id=good.pk, rebuild_index=False).status == Document.Status.READY


WORD_CASES = [
    (lambda: other.zip_bomb_docx(60), "bomb.docx", "unpacks 1028 times its compressed size, far more than any real document (a zip bomb)"),
    (lambda: other.docx_with_part("word/document.xml", other.LAUGHS), "laughs.docx",
     "its part word/document.xml declares a document type or entities, which no Word file does"),
    (lambda: other.docx_with_part("word/document.xml", other.EXTERNAL), "external.docx",
     "its part word/document.xml declares a document type or entities"),
]


@pytest.mark.parametrize("make, name, reason", WORD_CASES, ids=["zip-bomb", "entity-expansion", "external-entity"])
def test_a_hostile_word_file_is_refused_at_upload_and_fails_with_the_reason_if_stored(make, name, reason, tmp_path):
    data = make()
    with pytest.raises(ValidationError) as refused:
        document_create(file=io.BytesIO(data), filename=name, enqueue=False)
    assert reason in refused.value.messages[0]
    assert Document.objects.count() == 0

    document = stored_anyway(data, name, "docx")
    outcome, took = ingest_timed(document)
    assert outcome.status == document.status == Document.Status.FAILED and reason in document.error
    assert took < 5 and not Chunk.objects.filter(document=document).exists()
    measured = read_in_child(data, name, "docx", tmp_path)
    assert measured["status"] == "failed" and reason in measured["error"]
    then_the_next_document_is_read()


def test_a_word_file_past_its_unpacked_size_is_refused_however_honest_its_ratio(settings):
    settings.RAGSITE_EXTRACTORS = {**settings.RAGSITE_EXTRACTORS, "docx": {
        "BACKEND": "documents.formats.docx.DocxExtractor", "OPTIONS": {"max_unpacked_mb": 1}}}
    with pytest.raises(ValidationError, match=r"big\.docx unpacks to \d MB; a Word file may unpack to 1 MB"):
        document_create(file=io.BytesIO(other.random_docx(2)), filename="big.docx", enqueue=False)


def test_python_docx_itself_would_not_resolve_an_external_entity():
    # Defence in depth: were the check gone, python-docx's parser leaves entities unresolved.
    import docx

    document = docx.Document(io.BytesIO(other.docx_with_part("word/document.xml", other.EXTERNAL)))
    assert "root:" not in " ".join(p.text for p in document.paragraphs)


def test_html_nested_100000_deep_fails_with_the_reason_at_once(tmp_path):
    data = other.deep_html(100_000)
    document = document_create(file=io.BytesIO(data), filename="deep.html", enqueue=False)

    outcome, took = ingest_timed(document)

    assert outcome.status == document.status == Document.Status.FAILED
    assert document.error == "deep.html is nested more than 256 elements deep and cannot be read whole (a damaged or hostile page)"
    assert took < 5
    assert read_in_child(data, "deep.html", "html", tmp_path)["status"] == "failed"
    then_the_next_document_is_read()


def test_50_mb_of_text_on_one_line_is_read_in_bounded_memory_and_stops_at_the_time_limit(settings, tmp_path):
    data = other.single_line_text(50)
    measured = read_in_child(data, "line.txt", "text", tmp_path)
    assert measured["status"] == "ready" and measured["locations"] > 500  # cut into parts of 100,000 characters
    assert measured["seconds"] < 30

    settings.RAGSITE_INGEST_SECONDS = 20  # the embedding of 50 MB takes the real model hours
    document = document_create(file=io.BytesIO(data), filename="line.txt", enqueue=False)
    outcome, took = ingest_timed(document)

    assert outcome.status == document.status == Document.Status.FAILED
    assert "took longer than the 20 s a document may take (setting RAGSITE_INGEST_SECONDS)" in document.error
    assert took < 40
    then_the_next_document_is_read()


@pytest.mark.parametrize(
    "data, outcome, expected",
    [
        ("Valve notes café. ".encode() * 1000 + b"\xff\xfe" + "café ".encode() * 10, "ready",
         "2 byte sequence(s) that are not valid utf-8 were replaced"),
        (b"Valve notes in Windows-1252: caf\xe9, na\xefve, \x93quoted\x94. " * 200, "ready", "café"),
        ("Valve notes in UTF-16 without a byte-order mark. ".encode("utf-16-le") * 200, "ready", "UTF-16 without"),
        (codecs.BOM_UTF16_LE + "Valve \ud800 notes ".encode("utf-16-le", "surrogatepass") * 1000, "refused",
         "broken.txt is binary data"),
    ],
    ids=["broken-utf8", "windows-1252", "utf16-no-bom", "broken-utf16"],
)
def test_broken_and_legacy_encodings_are_read_or_refused_with_the_reason(data, outcome, expected, tmp_path):
    if outcome == "refused":
        with pytest.raises(ValidationError) as refused:
            document_create(file=io.BytesIO(data), filename="broken.txt", enqueue=False)
        assert refused.value.messages[0].startswith(expected)
        measured = read_in_child(data, "broken.txt", "text", tmp_path)  # and if it were stored anyway
        assert measured["status"] == "failed" and "not readable text" in measured["error"]
        return
    document = document_create(file=io.BytesIO(data), filename="broken.txt", enqueue=False)
    outcome_, took = ingest_timed(document)
    text = " ".join(Chunk.objects.filter(document=document).values_list("text", flat=True))
    assert outcome_.status == document.status == Document.Status.READY and took < 10
    assert expected in text or expected in document.error
    read_in_child(data, "broken.txt", "text", tmp_path)


def test_an_html_page_full_of_scripts_and_handlers_is_read_for_its_text_only(client, tmp_path):
    document = document_create(file=io.BytesIO(other.HOSTILE_HTML), filename="tricks.html", enqueue=False)
    outcome, _ = ingest_timed(document)
    text = " ".join(Chunk.objects.filter(document=document).values_list("text", flat=True))

    assert outcome.status == Document.Status.READY
    assert "The valve opens at 3 bar." in text and "window.ran" not in text and "import" not in text
    page = client.get(document.file.url).content.decode().lower()
    for needle in ("<script", "onload", "onerror", "onfocus", "javascript:", "data:text", "srcdoc", "<iframe", "<object",
                   "<embed", "<base", "<meta http-equiv", "<link", "example.invalid", "@import", "<form", "<svg", "<math"):
        assert needle not in page, needle
    assert read_in_child(other.HOSTILE_HTML, "tricks.html", "html", tmp_path)["status"] == "ready"
