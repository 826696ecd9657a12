"""Services that change the corpus: the admin, the API and the ingest command call these. The
worker's side, ingesting one document, is documents.ingest; documents.tasks sends work to it."""

import hashlib
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import transaction
from django.utils import timezone

from documents import tasks
from documents.formats import ExtractionError, get_extractor
from documents.formats.detect import HEAD_BYTES, format_detect, zip_names
from documents.ingest import default_title
from documents.models import Collection, Document, general_collection_id
from documents.search.services import index_rebuild_request



class DuplicateDocument(ValidationError):
    """The uploaded file is byte-for-byte a document the corpus already has."""

    def __init__(self, existing: Document):
        self.existing = existing
        super().__init__(
            f"this file is already in the corpus as document {existing.pk} ({existing.title!r}, "
            f"uploaded as {existing.original_filename})",
            code="duplicate",
        )

    def message_for(self, collection_ids: list[int] | None) -> str:
        """What an uploader who reads collection_ids (None: every one) may be told: which document
        it duplicates, or (one they may not read) only that the corpus has it already."""
        if collection_ids is None or self.existing.collection_id in collection_ids:
            return self.messages[0]
        return "this file is already in the corpus, in a collection you may not read"


def file_sha256(handle) -> str:
    digest = hashlib.sha256()
    handle.seek(0)
    for block in iter(lambda: handle.read(1024 * 1024), b""):
        digest.update(block)
    handle.seek(0)
    return digest.hexdigest()


def document_create(
    *, file, filename: str = "", title: str = "", user=None, enqueue: bool = True, collection: Collection | None = None
) -> Document:
    """Store an uploaded document (PDF, Word, HTML, Markdown or text) in `collection` (`general`
    when none is given) as a queued document and send it to the worker once committed. Whether
    the uploader may add to that collection is the caller's to check (documents.readable).

    Raises ValidationError for a file over the size limit, one whose content is none of the formats
    ragsite reads (the message says what it is), a PDF whose pages pypdf cannot count (damaged,
    encrypted with a password) or one with too many pages, a Word file past its limits (a zip
    bomb), and DuplicateDocument for one whose checksum the corpus already holds: nothing is stored
    or queued then. What the pages and sections hold is the ingest's business: a file whose pages
    fail still gets a row, with the reason."""
    filename = Path(filename or getattr(file, "name", "") or "upload.pdf").name
    size = getattr(file, "size", None)
    if size is None:
        file.seek(0, 2)
        size = file.tell()
        file.seek(0)
    limit = settings.RAGSITE_MAX_UPLOAD_MB * 1024 * 1024
    if size > limit:
        raise ValidationError(
            f"{filename} is {size / 1024 / 1024:.1f} MB; the upload limit is {settings.RAGSITE_MAX_UPLOAD_MB} MB",
            code="too_large",
        )
    if size == 0:
        raise ValidationError(f"{filename} is empty", code="empty")
    checksum = file_sha256(file)
    existing = Document.objects.filter(sha256=checksum).first()
    if existing is not None:
        raise DuplicateDocument(existing)
    document_format, page_count = document_check(file, filename=filename)
    document = Document(
        title=(title or default_title(filename)).strip()[:255] or filename,
        format=document_format,
        original_filename=filename[:255],
        sha256=checksum,
        size_bytes=size,
        page_count=page_count,
        uploaded_by=user if getattr(user, "is_authenticated", False) else None,
        collection_id=collection.pk if collection is not None else general_collection_id(),
    )
    with transaction.atomic():
        document.file.save(filename, File(file, name=filename), save=False)
        document.save()
        if enqueue:
            document_enqueue(document=document)
    return document


def document_check(file, *, filename: str) -> tuple[str, int | None]:
    """(format, location count when known at once) of an upload, or ValidationError saying why
    it cannot be taken: what the worker would fail on at once is refused before anything is
    stored. The format is told by the content (documents.formats.detect)."""
    try:
        file.seek(0)
        head = file.read(HEAD_BYTES)
        file.seek(0)
        names = zip_names(file) if head.startswith(b"PK") else None
        document_format = format_detect(head, filename=filename, zip_names=names)
        page_count = get_extractor(document_format).check(file, filename=filename)
    except ExtractionError as exc:
        raise ValidationError(str(exc), code="unreadable") from exc
    finally:
        file.seek(0)
    if page_count is not None and page_count > settings.RAGSITE_MAX_PAGES:
        raise ValidationError(
            f"{filename} has {page_count} pages; the limit is {settings.RAGSITE_MAX_PAGES} (setting RAGSITE_MAX_PAGES)",
            code="too_many_pages",
        )
    return document_format, page_count


def document_enqueue(*, document: Document) -> None:
    """Send the document to the worker after the current transaction commits.

    If the broker cannot be reached the document simply stays queued with no enqueued_at: the
    periodic sweep (documents_requeue_stale) sends it again once the broker is back."""
    transaction.on_commit(lambda: tasks.document_send(document.pk))


def document_reingest(*, document: Document) -> None:
    """Queue a document to be processed again (after a fix, or a new embedding model). While a
    run is processing it, the request is noted and that run queues it again when it ends: one
    more run, however many requests. Its current passages stay searchable meanwhile."""
    if Document.objects.filter(pk=document.pk, status=Document.Status.PROCESSING).update(reingest_requested=True):
        return
    queued = Document.objects.filter(
        pk=document.pk, status__in=[Document.Status.READY, Document.Status.FAILED]
    ).update(
        status=Document.Status.QUEUED, error="", pages_done=0, heartbeat_at=None, enqueued_at=None,
        updated_at=timezone.now(),
    )
    if queued:
        document_enqueue(document=document)


def document_delete(*, document: Document, in_process: bool = False) -> None:
    """Delete a document, its chunks and its file, then bring the search index up to date."""
    storage, name = document.file.storage, document.file.name
    with transaction.atomic():
        document.delete()
        transaction.on_commit(lambda: storage.delete(name) if name else None)
    index_rebuild_request(in_process=in_process)
