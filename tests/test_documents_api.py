import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from documents.models import Chunk, Document
from tests import pdfs

pytestmark = pytest.mark.django_db

PAGES = ["Returns are accepted within 30 days of delivery. Items must be unused."] * 2


def pdf_upload(name="policy.pdf", data=None):
    return SimpleUploadedFile(name, data or pdfs.text_pdf(PAGES), content_type="application/pdf")


def test_upload_through_the_api_is_processed_by_the_worker(staff_client, eager_celery, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post("/api/documents/", {"file": pdf_upload(), "title": "Return policy"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["title"] == "Return policy" and body["original_filename"] == "policy.pdf"

    detail = staff_client.get(f"/api/documents/{body['id']}/").json()
    assert detail["status"] == "ready" and detail["page_count"] == 2 and detail["chunk_count"] >= 2
    assert detail["progress_percent"] == 100 and detail["file_url"].endswith(".pdf")
    listed = staff_client.get("/api/documents/").json()
    assert [d["id"] for d in listed["results"]] == [body["id"]]


def test_a_file_that_is_no_readable_pdf_is_refused_at_once_and_nothing_is_stored_or_queued(
    staff_client, settings, django_capture_on_commit_callbacks
):
    for name, data, reason in [
        # Told by content: a photo named .pdf is refused as what it is (text so named is read as text).
        ("notes.pdf", b"\xff\xd8\xff\xe0\x00\x10JFIF" + bytes(200), "notes.pdf is a JPEG image, not a document ragsite reads"),
        ("locked.pdf", pdfs.encrypted_pdf(PAGES), "locked.pdf is encrypted and needs a password to open"),
        ("cut.pdf", pdfs.truncated_pdf(PAGES), "cut.pdf is damaged or truncated and cannot be read"),
    ]:
        with django_capture_on_commit_callbacks() as queued:
            response = staff_client.post("/api/documents/", {"file": pdf_upload(name, data)})
        assert response.status_code == 400, response.content
        assert response.json()["file"][0].startswith(reason)
        assert queued == []
    assert Document.objects.count() == 0
    media = settings.MEDIA_ROOT
    assert not media.exists() or not [path for path in media.rglob("*") if path.is_file()]


def test_a_duplicate_upload_is_refused_and_names_the_original(staff_client):
    first = staff_client.post("/api/documents/", {"file": pdf_upload("a.pdf")}).json()
    response = staff_client.post("/api/documents/", {"file": pdf_upload("b.pdf")})
    assert response.status_code == 409
    assert response.json()["duplicate_of"]["id"] == first["id"]
    assert "a.pdf" in response.json()["file"][0]
    assert Document.objects.count() == 1


def test_upload_limits_and_missing_file_are_400_with_field_messages(staff_client, settings):
    assert staff_client.post("/api/documents/", {}).json() == {"file": ["No file was submitted."]}
    settings.RAGSITE_MAX_UPLOAD_MB = 0
    response = staff_client.post("/api/documents/", {"file": pdf_upload()})
    assert response.status_code == 400 and "upload limit" in response.json()["file"][0]


def test_delete_removes_the_row_its_chunks_and_its_file(staff_client, eager_celery, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        body = staff_client.post("/api/documents/", {"file": pdf_upload()}).json()
    document = Document.objects.get(pk=body["id"])
    path = document.file.path
    assert Chunk.objects.filter(document=document).exists()
    with django_capture_on_commit_callbacks(execute=True):
        assert staff_client.delete(f"/api/documents/{document.pk}/").status_code == 204
    assert not Document.objects.filter(pk=document.pk).exists()
    assert not Chunk.objects.filter(document_id=document.pk).exists()
    import os

    assert not os.path.exists(path)


def test_the_api_is_for_staff_only(client, django_user_model):
    assert client.get("/api/documents/").status_code in (401, 403)
    user = django_user_model.objects.create_user("reader", password="pw")
    client.force_login(user)
    assert client.get("/api/documents/").status_code == 403
    assert client.post("/api/documents/", {"file": pdf_upload()}).status_code == 403
    assert Document.objects.count() == 0


def test_the_openapi_schema_lists_the_document_endpoints(staff_client):
    schema = staff_client.get("/api/schema/").content.decode()
    assert "/api/documents/{document_id}/" in schema
