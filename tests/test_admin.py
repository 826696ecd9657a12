import io
import os
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from documents.models import Chunk, Document
from tests import pdfs

pytestmark = pytest.mark.django_db


def pdf(name, text):
    return SimpleUploadedFile(name, pdfs.text_pdf([text]), content_type="application/pdf")


def test_staff_upload_several_pdfs_at_once_and_see_them_processed(staff_client, eager_celery, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            "/admin/documents/document/add/",
            {"files": [pdf("a.pdf", "Alpha manual. The alpha unit runs on 12 volts."), pdf("b.pdf", "Beta guide. Beta needs oil.")]},
            follow=True,
        )
    assert response.status_code == 200
    messages = [str(m) for m in response.context["messages"]]
    assert any("a.pdf: queued as document" in m for m in messages)
    assert Document.objects.filter(status="ready").count() == 2

    listing = staff_client.get("/admin/documents/document/").content.decode()
    assert "ready" in listing and "1/1 pages (100%)" in listing

    # The same file again is refused with a message naming the original, and nothing is added.
    response = staff_client.post("/admin/documents/document/add/", {"files": [pdf("again.pdf", "Beta guide. Beta needs oil.")]}, follow=True)
    assert any("already in the corpus" in str(m) and "b.pdf" in str(m) for m in response.context["messages"])
    assert Document.objects.count() == 2


def zipped_notes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes.txt", "Meeting notes, zipped and named .pdf.")
    return buffer.getvalue()


def test_an_upload_that_is_no_pdf_is_refused_with_its_reason_and_the_others_are_queued(
    staff_client, settings, django_capture_on_commit_callbacks
):
    files = [
        SimpleUploadedFile("report.pdf", zipped_notes(), content_type="application/pdf"),
        pdf("good.pdf", "Epsilon leaflet. Epsilon folds flat."),
    ]
    response = staff_client.post("/admin/documents/document/add/", {"files": files}, follow=True)
    messages = [(m.level_tag, str(m)) for m in response.context["messages"]]
    assert ("error", "report.pdf: report.pdf is a ZIP archive, not a document ragsite reads "
            "(PDF, Word (.docx), HTML, Markdown or plain text)") in messages
    assert any(tag == "success" and text.startswith("good.pdf: queued as document") for tag, text in messages)
    assert "report.pdf is a ZIP archive" in response.content.decode()  # shown on the page staff land on
    assert list(Document.objects.values_list("original_filename", flat=True)) == ["good.pdf"]


def test_the_upload_form_takes_several_files():
    from documents.admin import DocumentUploadForm

    assert 'multiple' in str(DocumentUploadForm()["files"])


def test_a_failed_document_shows_its_reason_in_the_list(staff_client, eager_celery, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(
            "/admin/documents/document/add/",
            {"files": [SimpleUploadedFile("scan.pdf", pdfs.scanned_pdf(1), content_type="application/pdf")]},
        )
    listing = staff_client.get("/admin/documents/document/").content.decode()
    assert "failed" in listing and "no extractable text (no text layer, and OCR found no text" in listing


def test_chunks_are_listed_read_only_with_their_pages(staff_client, eager_celery, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post("/admin/documents/document/add/", {"files": [pdf("c.pdf", "Gamma sheet. Gamma weighs 4 kg.")]})
    document = Document.objects.get()
    chunk = Chunk.objects.get(document=document)
    page = staff_client.get(f"/admin/documents/chunk/?document__id__exact={document.pk}").content.decode()
    assert "Gamma weighs 4 kg." in page
    detail = staff_client.get(f"/admin/documents/chunk/{chunk.pk}/change/").content.decode()
    assert "Gamma weighs 4 kg." in detail and 'name="text"' not in detail  # shown, not editable
    assert staff_client.get("/admin/documents/chunk/add/").status_code == 403


def test_reingest_and_delete_actions(staff_client, eager_celery, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post("/admin/documents/document/add/", {"files": [pdf("d.pdf", "Delta notes. Delta is blue.")]})
    document = Document.objects.get()
    generation = document.generation
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(
            "/admin/documents/document/", {"action": "reingest_selected", "_selected_action": [document.pk]}
        )
    document.refresh_from_db()
    assert document.status == "ready" and document.generation == generation + 1

    path = document.file.path
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(
            "/admin/documents/document/", {"action": "delete_selected_documents", "_selected_action": [document.pk]}
        )
    assert not Document.objects.exists() and not Chunk.objects.exists()
    assert not os.path.exists(path)


def live_document(**fields):
    from django.core.files.base import ContentFile

    n = Document.objects.count()
    document = Document(title=f"Live {n}", original_filename=f"live{n}.pdf", sha256=f"{n:064x}", **fields)
    document.file.save(f"live{n}.pdf", ContentFile(b"%PDF-1.4 stub"), save=False)
    document.save()
    return document


def test_the_live_endpoint_gives_the_cells_the_admin_shows_and_whether_each_document_still_moves(
    staff_client, django_assert_max_num_queries
):
    """What the admin's pages poll while a document is queued or processing (issue 35): the same
    cells as the list and the change page render, escaped, in a bounded number of queries."""
    moving = live_document(status="processing", page_count=42, pages_done=21, progress_note="OCR: page 22 of 42")
    still = live_document(status="failed", error="<script>x</script> broke")
    live_document(status="queued")  # not asked about

    url = f"/admin/documents/document/live/?id={moving.pk}&id={still.pk}&id=nonsense&id={10**30}"
    with django_assert_max_num_queries(6):  # session, user, the documents, the index state
        reply = staff_client.get(url)
    assert reply.status_code == 200 and reply["Cache-Control"].startswith("max-age=0")
    documents = reply.json()["documents"]
    assert set(documents) == {str(moving.pk), str(still.pk)}
    assert documents[str(moving.pk)]["moving"] is True and documents[str(still.pk)]["moving"] is False
    cells = documents[str(moving.pk)]["cells"]
    assert cells["progress"] == "21/42 pages (50%) · OCR: page 22 of 42"
    assert cells["status"] == "Processing" and cells["pages_done"] == "21"
    assert ">processing</strong>" in cells["status_badge"]
    assert "&lt;script&gt;x&lt;/script&gt; broke" in documents[str(still.pk)]["cells"]["short_error"]


def test_the_live_endpoint_is_for_staff_only(client, django_user_model):
    document = live_document(status="processing")
    url = f"/admin/documents/document/live/?id={document.pk}"
    assert client.get(url).status_code == 302  # to the admin's login
    client.force_login(django_user_model.objects.create_user("asker"))
    assert client.get(url).status_code == 302
