"""PDFs made to hurt (issue 37): past one of pypdf's limits, a page tree 101 levels deep, one
page listed 4,900 times, a dictionary nested 20,000 deep, pages that unpack to megabytes from a
few kilobytes. Each is refused or read with its real reason, within seconds, from every way in:
the API, the admin's batch upload, `manage.py ingest` and the worker."""

import io
import time

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from pypdf import PdfReader
from pypdf._configuration import apply_configuration

from documents import services
from documents.embedding import get_embedder
from documents.extraction import pdf_pages
from documents.ingest import document_ingest
from documents.models import Chunk, Document
from tests import pdfs

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]

GOOD = ["The kettle switches itself off when the water boils. Descale it every month."]
DEEP_REASON = (
    "deep.pdf goes past a limit pypdf sets against damaged or hostile files "
    "(Maximum page tree depth reached: 101 > 100.)"
)
NESTED_REASON = "nested.pdf is damaged: objects in it are nested too deep to read"


def upload(data: bytes, name: str) -> Document:
    return services.document_create(file=io.BytesIO(data), filename=name, enqueue=False)


def stored_anyway(data: bytes, name: str) -> Document:
    """A document whose stored file is `data`: what the worker meets when the upload check passed
    (an older version's check, a file changed on disk)."""
    document = upload(pdfs.text_pdf([f"A placeholder for {name}."]), name)
    with open(document.file.path, "wb") as stored:
        stored.write(data)
    return document


def timed_ingest(document: Document):
    get_embedder()  # loaded once per worker process, before any document's clock starts
    started = time.monotonic()
    outcome = document_ingest(document_id=document.pk, rebuild_index=False)
    document.refresh_from_db()
    return outcome, time.monotonic() - started


# --- pypdf's limits: a refusal with the reason, from every way in -------------------------------


def test_the_api_refuses_a_pdf_past_a_pypdf_limit_with_the_reason(staff_client):
    upload_file = SimpleUploadedFile("deep.pdf", pdfs.deep_page_tree_pdf(101), content_type="application/pdf")

    response = staff_client.post("/api/documents/", {"file": upload_file})

    assert response.status_code == 400, response.content[:300]
    assert response.json() == {"file": [DEEP_REASON]}
    assert not Document.objects.exists()


def test_a_page_tree_100_levels_deep_is_still_read():
    document = upload(pdfs.deep_page_tree_pdf(100), "deep.pdf")
    assert document.page_count == 1


def test_the_admin_batch_says_what_became_of_every_file_when_one_is_past_a_limit(staff_client):
    files = [
        SimpleUploadedFile("first.pdf", pdfs.text_pdf(GOOD), content_type="application/pdf"),
        SimpleUploadedFile("deep.pdf", pdfs.deep_page_tree_pdf(101), content_type="application/pdf"),
        SimpleUploadedFile("last.pdf", pdfs.text_pdf(["The toaster has three settings."]), content_type="application/pdf"),
    ]

    response = staff_client.post("/admin/documents/document/add/", {"files": files}, follow=True)

    assert response.status_code == 200
    messages = [(m.level_tag, str(m)) for m in response.context["messages"]]
    assert ("error", f"deep.pdf: {DEEP_REASON}") in messages
    stored = [text for tag, text in messages if tag == "success"]
    assert [text.split(":")[0] for text in stored] == ["first.pdf", "last.pdf"]
    assert sorted(Document.objects.values_list("original_filename", flat=True)) == ["first.pdf", "last.pdf"]


def test_the_admin_batch_says_what_became_of_every_file_when_one_breaks_unexpectedly(staff_client, monkeypatch):
    create = services.document_create

    def breaks_on_one(*, file, filename="", **kwargs):
        if filename == "boom.pdf":
            raise RuntimeError("a bug met while storing it")
        return create(file=file, filename=filename, **kwargs)

    monkeypatch.setattr(services, "document_create", breaks_on_one)
    staff_client.raise_request_exception = False
    files = [
        SimpleUploadedFile("boom.pdf", pdfs.text_pdf(["Boom."]), content_type="application/pdf"),
        SimpleUploadedFile("fine.pdf", pdfs.text_pdf(GOOD), content_type="application/pdf"),
    ]

    response = staff_client.post("/admin/documents/document/add/", {"files": files}, follow=True)

    assert response.status_code == 200
    messages = [(m.level_tag, str(m)) for m in response.context["messages"]]
    assert ("error", "boom.pdf: not stored, an unexpected error (RuntimeError: a bug met while storing it)") in messages
    assert any(tag == "success" and text.startswith("fine.pdf: queued as document") for tag, text in messages)
    assert list(Document.objects.values_list("original_filename", flat=True)) == ["fine.pdf"]


def test_the_ingest_command_prints_its_table_when_a_file_is_past_a_limit(tmp_path):
    (tmp_path / "deep.pdf").write_bytes(pdfs.deep_page_tree_pdf(101))
    (tmp_path / "good.pdf").write_bytes(pdfs.text_pdf(GOOD))
    out = io.StringIO()

    call_command("ingest", str(tmp_path), "--no-progress", stdout=out)

    text = out.getvalue()
    deep_row = next(line for line in text.splitlines() if "deep.pdf" in line)
    assert "refused" in deep_row and DEEP_REASON in deep_row
    assert "2 file(s) handled: 1 ready or already present, 1 failed." in text
    assert Document.objects.get().original_filename == "good.pdf"


def test_the_ingest_command_prints_its_table_when_a_file_breaks_unexpectedly(tmp_path, monkeypatch):
    from documents.management.commands import ingest as command

    def breaks(*, document_id, **kwargs):
        if Document.objects.get(pk=document_id).original_filename == "boom.pdf":
            raise RuntimeError("a bug met while ingesting it")
        return document_ingest(document_id=document_id, **kwargs)

    monkeypatch.setattr(command, "document_ingest", breaks)
    (tmp_path / "boom.pdf").write_bytes(pdfs.text_pdf(["Boom."]))
    (tmp_path / "good.pdf").write_bytes(pdfs.text_pdf(GOOD))
    out = io.StringIO()

    with pytest.raises(CommandError, match="1 file\\(s\\) hit an unexpected error"):
        call_command("ingest", str(tmp_path), "--no-progress", stdout=out)

    text = out.getvalue()
    boom_row = next(line for line in text.splitlines() if "boom.pdf" in line)
    assert "error" in boom_row and "RuntimeError: a bug met while ingesting it" in boom_row
    assert "2 file(s) handled: 1 ready or already present, 1 failed." in text
    assert Document.objects.get(original_filename="good.pdf").status == "ready"


def test_a_page_past_a_pypdf_limit_fails_alone_with_the_reason():
    reader = PdfReader(io.BytesIO(pdfs.text_pdf(GOOD + ["A second page."])))
    with apply_configuration(stream_parsing_work_maximum_count=10):  # page 1 parses more
        first = next(pdf_pages(reader, stop=1))
    assert first.text == "" and first.error.startswith("it goes past a limit pypdf sets against damaged or hostile files (")
    assert [page.text for page in pdf_pages(reader, start=2)] == ["A second page."]


# --- small files that held a worker: bounded by what the file holds ------------------------------


def test_a_page_listed_4900_times_is_read_once_in_seconds(settings):
    settings.RAGSITE_INGEST_SECONDS = 20  # a limit the document must not need: it took 40 minutes
    document = stored_anyway(pdfs.repeated_page_pdf(4900), "repeated.pdf")

    outcome, took = timed_ingest(document)

    assert outcome.status == document.status == Document.Status.READY, document.error
    assert took < 10
    assert document.page_count == document.pages_done == 4900
    assert set(Chunk.objects.filter(document=document).values_list("page", flat=True)) == {1}
    assert document.empty_pages == [] and document.failed_pages == []
    assert "4899 of 4900 pages repeat an earlier page (read and indexed once): pages 2-4900 repeat page 1" in document.error


def test_pages_sharing_one_content_stream_and_resources_are_read_once():
    reader = PdfReader(io.BytesIO(pdfs.repeated_page_pdf(3, operations=10)))
    pages = list(pdf_pages(reader))
    assert [(page.number, page.repeat_of) for page in pages] == [(1, 0), (2, 1), (3, 1)]
    assert pages[1].text == pages[2].text == pages[0].text != ""


def test_a_dictionary_nested_20000_deep_is_refused_as_damaged_not_as_a_scan(settings):
    with pytest.raises(ValidationError) as refused:
        upload(pdfs.nested_pdf(20_000), "nested.pdf")
    assert refused.value.messages == [NESTED_REASON]

    document = stored_anyway(pdfs.nested_pdf(20_000), "nested.pdf")
    outcome, took = timed_ingest(document)
    assert outcome.status == document.status == Document.Status.FAILED
    assert document.error == NESTED_REASON and took < 5


@pytest.mark.parametrize(
    "data, page",
    [
        (pdfs.unpacking_pdf(12), 1),  # 12 MB of content in a file of 13 kB
        (pdfs.shared_stream_pdf(200, megabytes=1), 8),  # one 1 MB stream read by 200 different pages
    ],
    ids=["one-page", "shared-stream"],
)
def test_pages_that_unpack_far_past_the_file_size_are_refused_at_once(settings, data, page):
    settings.RAGSITE_INGEST_SECONDS = 60
    document = stored_anyway(data, "bomb.pdf")

    outcome, took = timed_ingest(document)

    assert outcome.status == document.status == Document.Status.FAILED
    assert document.error.startswith(f"bomb.pdf was refused at page {page}: its pages unpack to more than 8 MB"), document.error
    assert took < 5
