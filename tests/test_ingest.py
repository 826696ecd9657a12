"""Ingest through the service functions the admin, the API, the command and the worker share."""

import io
import time

import numpy as np
import pytest
from django.core.exceptions import ValidationError

from documents.embedding import get_embedder, sentence_vectors_unpack
from documents.models import Chunk, Document
from documents.text.units import meaning_texts
from documents.ingest import document_ingest
from documents.services import DuplicateDocument, document_create, document_reingest
from tests import pdfs

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]

MANUAL = [
    "The Falcon 3 drone has a flight time of 42 minutes. Its battery charges in 90 minutes. " * 3,
    "",  # a blank page between sections
    "To calibrate the compass, hold the drone level and rotate it twice. The status light turns green. " * 4,
]


def upload(data: bytes, name: str = "manual.pdf", **kwargs) -> Document:
    return document_create(file=io.BytesIO(data), filename=name, enqueue=False, **kwargs)


def test_a_good_pdf_becomes_ready_with_page_numbered_chunks_and_vectors():
    document = upload(pdfs.text_pdf(MANUAL))
    seen = []
    outcome = document_ingest(document_id=document.pk, progress=lambda done, total: seen.append((done, total)))
    document.refresh_from_db()

    assert outcome.status == document.status == Document.Status.READY
    assert document.page_count == 3 and document.pages_done == 3
    assert document.empty_pages == [2] and document.failed_pages == [] and document.error == ""
    assert seen[-1] == (3, 3)
    chunks = list(document.chunks.filter(generation=document.generation))
    assert document.chunk_count == len(chunks) > 0
    assert {chunk.page for chunk in chunks} == {1, 3}
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    embedder = get_embedder()
    first = chunks[0]
    vector = np.frombuffer(bytes(first.embedding), dtype="<f4")
    assert first.embedding_model == document.embedding_model == embedder.name
    assert vector.shape == (embedder.dimension,)
    assert np.isclose(np.linalg.norm(vector), 1.0, atol=1e-3)
    # The stored vector is the passage's embedding, not something else.
    assert np.allclose(vector, embedder.embed([first.text])[0], atol=1e-4)
    # And one vector per sentence or line an extractive answer may quote, as the model gives it.
    lines = meaning_texts(first.text)
    stored = sentence_vectors_unpack(bytes(first.sentence_embeddings), dimension=embedder.dimension, count=len(lines))
    assert len(lines) > 1 and stored is not None and np.allclose(stored, embedder.embed(lines), atol=2e-3)
    assert "42 minutes" in " ".join(c.text for c in chunks if c.page == 1)


def test_with_sentence_vectors_off_a_passage_stores_its_vector_only(settings):
    # Where a language model answers, the sentences are not embedded: the ingest takes half the time.
    settings.RAGSITE_SENTENCE_VECTORS = False
    document = upload(pdfs.text_pdf(MANUAL))
    assert document_ingest(document_id=document.pk).status == Document.Status.READY
    chunks = list(document.chunks.all())
    assert chunks and all(bytes(chunk.embedding) and not bytes(chunk.sentence_embeddings) for chunk in chunks)


def test_a_second_delivery_or_a_forced_retry_never_duplicates_chunks():
    document = upload(pdfs.text_pdf(MANUAL))
    document_ingest(document_id=document.pk)
    count = Chunk.objects.filter(document=document).count()

    again = document_ingest(document_id=document.pk)  # a duplicate message: nothing to claim
    assert "already handled" in again.detail
    document_ingest(document_id=document.pk, force=True)  # a real re-run replaces the chunks
    document.refresh_from_db()
    assert Chunk.objects.filter(document=document).count() == count == document.chunk_count
    assert set(Chunk.objects.filter(document=document).values_list("generation", flat=True)) == {document.generation}


def test_a_worker_that_died_mid_ingest_leaves_the_document_to_be_taken_again(settings):
    document = upload(pdfs.text_pdf(MANUAL))
    # What a killed worker leaves: 'processing', an old heartbeat, half a generation of chunks.
    Document.objects.filter(pk=document.pk).update(status="processing", heartbeat_at="2000-01-01T00:00:00Z")
    Chunk.objects.create(
        document=document, generation=document.generation + 1, ordinal=0, page=1, text="half", char_start=0,
        char_end=4, token_count=1, embedding=b"\0" * 1536, embedding_model="x",
    )
    assert document_ingest(document_id=document.pk).status == Document.Status.READY
    document.refresh_from_db()
    assert not Chunk.objects.filter(document=document, text="half").exists()
    assert Chunk.objects.filter(document=document).count() == document.chunk_count


def test_a_document_another_worker_is_on_is_left_alone():
    document = upload(pdfs.text_pdf(MANUAL))
    Document.objects.filter(pk=document.pk).update(status="processing", heartbeat_at="2100-01-01T00:00:00Z")
    outcome = document_ingest(document_id=document.pk)
    assert outcome.status == "processing" and not Chunk.objects.filter(document=document).exists()


def test_the_same_file_twice_is_refused_naming_the_original():
    first = upload(pdfs.text_pdf(MANUAL), name="first.pdf")
    with pytest.raises(DuplicateDocument) as caught:
        upload(pdfs.text_pdf(MANUAL), name="copy.pdf")
    assert caught.value.existing == first
    assert "first.pdf" in caught.value.messages[0]
    assert Document.objects.count() == 1


def test_uploads_over_the_size_limit_are_refused(settings):
    settings.RAGSITE_MAX_UPLOAD_MB = 0
    with pytest.raises(ValidationError, match="upload limit"):
        upload(pdfs.text_pdf(MANUAL))
    assert Document.objects.count() == 0


@pytest.mark.parametrize(
    "make, reason",
    [
        # Told by its content, not its name: text named .pdf is a text document (tests/test_formats.py).
        (lambda: b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "bad.pdf is a PNG image, not a document ragsite reads"),
        (lambda: b"%PDF-1.7\n" + b"\x00" * 500, "bad.pdf is damaged or truncated and cannot be read"),
        (lambda: pdfs.truncated_pdf(MANUAL), "bad.pdf is damaged or truncated and cannot be read"),
        (lambda: pdfs.encrypted_pdf(MANUAL), "bad.pdf is encrypted and needs a password to open; upload an unlocked copy"),
        (lambda: pdfs.text_pdf(MANUAL * 2), "bad.pdf has 6 pages; the limit is 5 (setting RAGSITE_MAX_PAGES)"),
    ],
    ids=["not-a-pdf", "header-only", "truncated", "encrypted", "too-many-pages"],
)
def test_files_the_worker_could_not_read_are_refused_at_upload_with_nothing_stored(make, reason, settings):
    settings.RAGSITE_MAX_PAGES = 5
    with pytest.raises(ValidationError) as refused:
        upload(make(), name="bad.pdf")
    assert reason in refused.value.messages[0]
    assert Document.objects.count() == 0
    assert not (settings.MEDIA_ROOT / "documents").exists() or not any((settings.MEDIA_ROOT / "documents").iterdir())


def test_page_limit_fails_the_document_with_the_setting_named(settings):
    document = upload(pdfs.text_pdf(MANUAL))
    assert document.page_count == 3  # counted at upload
    settings.RAGSITE_MAX_PAGES = 2  # lowered after the upload
    document_ingest(document_id=document.pk)
    document.refresh_from_db()
    assert document.status == "failed" and "RAGSITE_MAX_PAGES" in document.error


def stored_then_damaged(data: bytes, name: str) -> Document:
    """A document uploaded whole whose stored file then changed on disk (a bad disk, a partial
    restore): the worker meets files the upload check never saw."""
    document = upload(pdfs.text_pdf([f"A placeholder for {name}."]), name=name)
    with open(document.file.path, "wb") as stored:
        stored.write(data)
    return document


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda: b"Just some notes, not a PDF at all.\n" * 20, "is not a PDF file"),
        (lambda: pdfs.truncated_pdf(MANUAL), "damaged or truncated"),
        (lambda: pdfs.encrypted_pdf(MANUAL), "needs a password"),
        (lambda: pdfs.scanned_pdf(3), "no extractable text (no text layer, and OCR found no text on its pages)"),
        (lambda: pdfs.pdf_with_broken_pages(MANUAL[:1] * 2, [1, 2]), "no page could be read"),
    ],
    ids=["not-a-pdf", "truncated", "encrypted", "scanned", "all-pages-broken"],
)
def test_bad_files_fail_with_a_reason_and_no_chunks(make, reason):
    good = upload(pdfs.text_pdf(MANUAL), name="good.pdf")
    document_ingest(document_id=good.pk)
    good_chunks = set(Chunk.objects.filter(document=good).values_list("pk", flat=True))

    bad = stored_then_damaged(make(), name="bad.pdf")
    outcome = document_ingest(document_id=bad.pk)
    bad.refresh_from_db()

    assert outcome.status == bad.status == Document.Status.FAILED
    assert reason in bad.error and "bad.pdf" in bad.error
    assert bad.chunk_count == 0 and not Chunk.objects.filter(document=bad).exists()
    # Every other document is untouched.
    good.refresh_from_db()
    assert good.status == "ready" and set(Chunk.objects.filter(document=good).values_list("pk", flat=True)) == good_chunks


def test_a_document_past_its_time_limit_fails_with_the_reason_and_the_next_one_is_processed(settings):
    settings.RAGSITE_INGEST_SECONDS = 1
    slow = upload(pdfs.slow_pdf(), name="slow.pdf")  # one page that takes pypdf 5-10 s to read
    get_embedder()  # loaded once per worker process, before any document's clock starts
    started = time.monotonic()
    outcome = document_ingest(document_id=slow.pk)
    took = time.monotonic() - started
    slow.refresh_from_db()
    assert outcome.status == slow.status == Document.Status.FAILED
    assert slow.error == (
        "slow.pdf took longer than the 1 s a document may take (setting RAGSITE_INGEST_SECONDS) "
        "and was given up after 0 of 1 pages"
    )
    # The limit, and at most 5 s waiting for the reading thread to stop, and the claim and the
    # failure's writes (up to a second on a loaded 2-core CI machine): not the page's full time.
    assert took < 1 + 5 + 2

    settings.RAGSITE_INGEST_SECONDS = 3600
    after = upload(pdfs.text_pdf(MANUAL), name="after.pdf")
    assert document_ingest(document_id=after.pk).status == Document.Status.READY


def test_an_owner_password_only_pdf_is_read():
    document = upload(pdfs.encrypted_pdf(MANUAL, user_password=""))
    assert document_ingest(document_id=document.pk).status == "ready"


def test_pages_that_fail_are_listed_and_the_good_ones_kept():
    document = upload(pdfs.pdf_with_broken_pages(MANUAL, [3]))
    document_ingest(document_id=document.pk)
    document.refresh_from_db()
    assert document.status == "ready"
    assert document.failed_pages == [3] and document.empty_pages == [2]
    assert "page 3" in document.error and "1 of 3 pages could not be read" in document.error
    assert set(document.chunks.values_list("page", flat=True)) == {1}


def test_reingest_after_failure_runs_again():
    document = upload(pdfs.scanned_pdf(1))
    document_ingest(document_id=document.pk)
    document_reingest(document=document)
    document.refresh_from_db()
    assert document.status == "queued" and document.error == ""


def test_a_document_uploaded_without_a_title_takes_the_one_in_its_pdf():
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_title("Falcon 3 Drone - Pilot Handbook")
    pdf.add_page()
    pdf.set_font("helvetica", size=10)
    pdf.multi_cell(0, 5, MANUAL[0])
    named = upload(bytes(pdf.output()), name="scan_0042.pdf")
    document_ingest(document_id=named.pk)
    named.refresh_from_db()
    assert named.title == "Falcon 3 Drone - Pilot Handbook"

    # A title given at upload wins over the PDF's; a PDF with no title keeps the file name's.
    given = upload(pdfs.text_pdf(MANUAL), name="manual.pdf", title="Drone manual, 2024 edition")
    document_ingest(document_id=given.pk)
    given.refresh_from_db()
    assert given.title == "Drone manual, 2024 edition"
    plain = upload(pdfs.text_pdf(MANUAL[:1]), name="quick_start.pdf")
    document_ingest(document_id=plain.pk)
    plain.refresh_from_db()
    assert plain.title == "quick start"
