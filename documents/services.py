"""Services that change the corpus. The admin, the API, the ingest command and the worker all
call these; tasks are thin wrappers around them."""

import hashlib
import logging
import queue
import threading
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Iterator

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from documents import search
from documents.chunking import chunk_page
from documents.embedding import get_embedder
from documents.extraction import PdfError, pdf_open, pdf_pages
from documents.models import Chunk, Document

logger = logging.getLogger(__name__)


class DuplicateDocument(ValidationError):
    """The uploaded file is byte-for-byte a document the corpus already has."""

    def __init__(self, existing: Document):
        self.existing = existing
        super().__init__(
            f"this file is already in the corpus as document {existing.pk} ({existing.title!r}, "
            f"uploaded as {existing.original_filename})",
            code="duplicate",
        )


def file_sha256(handle) -> str:
    digest = hashlib.sha256()
    handle.seek(0)
    for block in iter(lambda: handle.read(1024 * 1024), b""):
        digest.update(block)
    handle.seek(0)
    return digest.hexdigest()


def default_title(filename: str) -> str:
    """The title a document gets when the uploader gives none (until its PDF says better)."""
    return Path(filename).stem.replace("_", " ").strip()


def pdf_title(reader) -> str:
    """The title in the PDF's metadata, when it looks like one a person would use."""
    try:
        title = str((reader.metadata or {}).get("/Title") or "")
    except Exception:  # a damaged info dictionary is no reason to fail the document
        return ""
    title = " ".join(title.replace("\x00", "").split())
    generated = ("microsoft word - ", "microsoft powerpoint - ", "untitled", "title", "document")
    if not 3 <= len(title) <= 200 or title.lower().startswith(generated) or title.lower().endswith((".doc", ".docx", ".pdf")):
        return ""
    return title


def document_create(*, file, filename: str = "", title: str = "", user=None, enqueue: bool = True) -> Document:
    """Store an uploaded PDF as a queued document and send it to the worker once committed.

    Raises ValidationError for a file over the size limit and DuplicateDocument for one whose
    checksum the corpus already holds. Whether the file is a readable PDF is the ingest's
    business: a bad file still gets a row, with the reason it failed."""
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
    document = Document(
        title=(title or default_title(filename)).strip()[:255] or filename,
        original_filename=filename[:255],
        sha256=checksum,
        size_bytes=size,
        uploaded_by=user if getattr(user, "is_authenticated", False) else None,
    )
    with transaction.atomic():
        document.file.save(filename, File(file, name=filename), save=False)
        document.save()
        if enqueue:
            document_enqueue(document=document)
    return document


def document_enqueue(*, document: Document) -> None:
    """Send the document to the worker after the current transaction commits.

    If the broker cannot be reached the document simply stays queued with no enqueued_at: the
    periodic sweep (documents_requeue_stale) sends it again once the broker is back."""
    transaction.on_commit(lambda: _send(document.pk))


def _send(document_id: int) -> bool:
    from documents.tasks import document_ingest_task

    try:
        document_ingest_task.delay(document_id)
    except Exception as exc:  # kombu raises OperationalError and friends
        logger.warning("could not reach the broker for document %s; the sweep will retry: %s", document_id, exc)
        return False
    Document.objects.filter(pk=document_id).update(enqueued_at=timezone.now())
    return True


def document_reingest(*, document: Document) -> None:
    """Queue a document to be processed again (after a fix, or a new embedding model)."""
    Document.objects.filter(pk=document.pk).update(
        status=Document.Status.QUEUED, error="", pages_done=0, heartbeat_at=None, enqueued_at=None,
        updated_at=timezone.now(),
    )
    document_enqueue(document=document)


def document_delete(*, document: Document, in_process: bool = False) -> None:
    """Delete a document, its chunks and its file, then bring the search index up to date."""
    storage, name = document.file.storage, document.file.name
    with transaction.atomic():
        document.delete()
        transaction.on_commit(lambda: storage.delete(name) if name else None)
    search.index_rebuild_request(in_process=in_process)


@dataclass
class IngestOutcome:
    document_id: int
    status: str
    detail: str = ""


def _claim(document_id: int, *, force: bool) -> bool:
    """Take the document for this worker: a conditional update, so two deliveries of one task
    cannot both process it. A 'processing' row with an old heartbeat belongs to a dead worker."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.RAGSITE_STALE_AFTER_SECONDS)
    claimable = Q(status=Document.Status.QUEUED) | Q(status=Document.Status.PROCESSING, heartbeat_at__lt=stale)
    if force:
        claimable |= Q(status__in=[Document.Status.READY, Document.Status.FAILED])
    return bool(
        Document.objects.filter(claimable, pk=document_id).update(
            status=Document.Status.PROCESSING,
            started_at=now,
            heartbeat_at=now,
            finished_at=None,
            pages_done=0,
            error="",
            updated_at=now,
        )
    )


def document_ingest(*, document_id: int, force: bool = False, rebuild_index: bool = True, progress=None) -> IngestOutcome:
    """Extract, chunk and embed one document; idempotent.

    Chunks are written under a new generation number and swapped in with one transaction at
    the end, so a crash or a second delivery never leaves duplicated or half-replaced chunks.
    `progress(pages_done, page_count)` is called as pages are done."""
    if not _claim(document_id, force=force):
        status = Document.objects.filter(pk=document_id).values_list("status", flat=True).first()
        return IngestOutcome(document_id, status or "missing", "already handled or taken by another worker")
    document = Document.objects.get(pk=document_id)
    try:
        outcome = _ingest_claimed(document, progress=progress)
    except PdfError as exc:
        outcome = _fail(document, str(exc))
    except Exception as exc:
        logger.exception("document %s failed unexpectedly", document_id)
        outcome = _fail(document, f"unexpected error while processing {document.original_filename}: {exc}")
    if rebuild_index:
        search.index_rebuild_request(in_process=False)
    return outcome


def _ingest_claimed(document: Document, *, progress) -> IngestOutcome:
    embedder = get_embedder()
    name = document.original_filename
    path = document.file.path
    reader = pdf_open(path, filename=name)
    page_count = len(reader.pages)
    if page_count > settings.RAGSITE_MAX_PAGES:
        raise PdfError(
            f"{name} has {page_count} pages; the limit is {settings.RAGSITE_MAX_PAGES} (setting RAGSITE_MAX_PAGES)"
        )
    updates = {"page_count": page_count}
    if document.title == default_title(document.original_filename) and (title := pdf_title(reader)):
        updates["title"] = title[:255]  # the uploader gave none: the PDF's own is better than a file name
    Document.objects.filter(pk=document.pk).update(**updates)

    generation = document.generation + 1
    # Leftovers of an earlier attempt that died before its swap.
    Chunk.objects.filter(document=document).exclude(generation=document.generation).delete()

    max_tokens = min(settings.RAGSITE_CHUNK_TOKENS, embedder.max_tokens)
    batch_pages = max(1, settings.RAGSITE_INGEST_PAGE_BATCH)

    def page_batches():
        """(last page, pages, chunk drafts) per batch of pages; runs ahead in its own thread."""
        for batch_start in range(1, page_count + 1, batch_pages):
            pages = list(pdf_pages(reader, start=batch_start, stop=batch_start + batch_pages - 1))
            drafts = [
                draft
                for page in pages
                if page.text
                for draft in chunk_page(
                    page=page.number, text=page.text, token_spans=embedder.token_spans,
                    max_tokens=max_tokens, overlap_tokens=settings.RAGSITE_CHUNK_OVERLAP_TOKENS,
                )
            ]
            yield min(page_count, batch_start + batch_pages - 1), pages, drafts

    ordinal = 0
    empty_pages, failed_pages, failures = [], [], []
    pending: list = []
    # Reading and chunking the next pages overlaps with embedding these (torch frees the GIL);
    # embedding waits for enough chunks to make full, length-sorted batches.
    for last_page, pages, drafts in read_ahead(page_batches(), depth=2):
        for page in pages:
            if page.error:
                failed_pages.append(page.number)
                failures.append(f"page {page.number}: {page.error}")
            elif not page.text:
                empty_pages.append(page.number)
        pending.extend(drafts)
        if len(pending) < settings.RAGSITE_EMBED_BATCH_CHUNKS and last_page < page_count:
            continue
        vectors = embedder.embed([draft.text for draft in pending])
        Chunk.objects.bulk_create(
            Chunk(
                document=document,
                generation=generation,
                ordinal=ordinal + i,
                page=draft.page,
                text=draft.text,
                char_start=draft.char_start,
                char_end=draft.char_end,
                token_count=draft.token_count,
                embedding=vector.astype("<f4").tobytes(),
                embedding_model=embedder.name,
            )
            for i, (draft, vector) in enumerate(zip(pending, vectors))
        )
        ordinal += len(pending)
        pending = []
        Document.objects.filter(pk=document.pk).update(pages_done=last_page, heartbeat_at=timezone.now())
        if progress:
            progress(last_page, page_count)

    if ordinal == 0:
        Chunk.objects.filter(document=document, generation=generation).delete()
        if failed_pages and not empty_pages:
            raise PdfError(f"{name}: no page could be read ({'; '.join(failures[:5])})")
        raise PdfError(f"{name}: no extractable text (scanned PDF, needs OCR)")

    error = ""
    if failed_pages:
        error = f"{len(failed_pages)} of {page_count} pages could not be read and were skipped: " + "; ".join(
            failures[:10]
        )
    with transaction.atomic():
        Chunk.objects.filter(document=document).exclude(generation=generation).delete()
        Document.objects.filter(pk=document.pk).update(
            status=Document.Status.READY,
            generation=generation,
            chunk_count=ordinal,
            pages_done=page_count,
            empty_pages=empty_pages,
            failed_pages=failed_pages,
            error=error,
            embedding_model=embedder.name,
            finished_at=timezone.now(),
            updated_at=timezone.now(),
        )
    logger.info("document %s ready: %s pages, %s chunks", document.pk, page_count, ordinal)
    return IngestOutcome(document.pk, Document.Status.READY, error)


def read_ahead(items: Iterator, *, depth: int) -> Iterator:
    """Iterate over items produced by a background thread, at most `depth` of them ahead.
    An exception in the producer is raised here, in the consumer."""
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def produce():
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        buffer.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            buffer.put((done, None))
        except BaseException as exc:  # handed to the consumer
            buffer.put((done, exc))

    thread = threading.Thread(target=produce, name="ingest-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item, error = buffer.get()
            if item is done:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


def _fail(document: Document, reason: str) -> IngestOutcome:
    with transaction.atomic():
        Chunk.objects.filter(document=document).delete()
        Document.objects.filter(pk=document.pk).update(
            status=Document.Status.FAILED,
            error=reason,
            chunk_count=0,
            finished_at=timezone.now(),
            updated_at=timezone.now(),
        )
    logger.info("document %s failed: %s", document.pk, reason)
    return IngestOutcome(document.pk, Document.Status.FAILED, reason)


def documents_requeue_stale() -> int:
    """Send again the documents that no worker is on: queued but never handed to the broker (it
    was down), queued long ago with no worker taking them (the message was lost), or processing
    with an old heartbeat (the worker died). Returns how many were sent."""
    stale = timezone.now() - timedelta(seconds=settings.RAGSITE_STALE_AFTER_SECONDS)
    waiting = Document.objects.filter(
        Q(status=Document.Status.QUEUED, enqueued_at__isnull=True)
        | Q(status=Document.Status.QUEUED, enqueued_at__lt=stale)
        | Q(status=Document.Status.PROCESSING, heartbeat_at__lt=stale)
    )
    sent = [document_id for document_id in waiting.values_list("pk", flat=True) if _send(document_id)]
    if sent:
        logger.info("requeued %s document(s) no worker was on: %s", len(sent), sent)
    return len(sent)
