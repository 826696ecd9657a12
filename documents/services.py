"""Services that change the corpus. The admin, the API, the ingest command and the worker all
call these; tasks are thin wrappers around them."""

import dataclasses
import hashlib
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from documents import tasks
from documents.chunking import ChunkDraft, chunk_page
from documents.embedding import Embedder, get_embedder, sentence_vectors_embed
from documents.extraction import PageText, PdfError, pdf_open, pdf_pages, pdf_title
from documents.lib import heartbeat, read_ahead
from documents.models import SKIPPED_LISTED, Chunk, Document
from documents.ocr import get_ocr, page_with_ocr
from documents.search.services import index_chunks, index_rebuild_request

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


def document_create(*, file, filename: str = "", title: str = "", user=None, enqueue: bool = True) -> Document:
    """Store an uploaded PDF as a queued document and send it to the worker once committed.

    Raises ValidationError for a file over the size limit, one that is no PDF or whose pages
    pypdf cannot count (damaged, encrypted with a password), or one with too many pages, and
    DuplicateDocument for one whose checksum the corpus already holds: nothing is stored or
    queued then. What the pages hold is the ingest's business: a PDF whose pages fail still
    gets a row, with the reason."""
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
    page_count = pdf_page_count(file, filename=filename)
    document = Document(
        title=(title or default_title(filename)).strip()[:255] or filename,
        original_filename=filename[:255],
        sha256=checksum,
        size_bytes=size,
        page_count=page_count,
        uploaded_by=user if getattr(user, "is_authenticated", False) else None,
    )
    with transaction.atomic():
        document.file.save(filename, File(file, name=filename), save=False)
        document.save()
        if enqueue:
            document_enqueue(document=document)
    return document


def pdf_page_count(file, *, filename: str) -> int:
    """The number of pages of an uploaded PDF, or ValidationError saying why it cannot be
    taken: what the worker would fail on at once is refused before anything is stored."""
    try:
        page_count = len(pdf_open(file, filename=filename).pages)
    except PdfError as exc:
        raise ValidationError(str(exc), code="unreadable") from exc
    finally:
        file.seek(0)
    if page_count > settings.RAGSITE_MAX_PAGES:
        raise ValidationError(
            f"{filename} has {page_count} pages; the limit is {settings.RAGSITE_MAX_PAGES} (setting RAGSITE_MAX_PAGES)",
            code="too_many_pages",
        )
    return page_count


def document_enqueue(*, document: Document) -> None:
    """Send the document to the worker after the current transaction commits.

    If the broker cannot be reached the document simply stays queued with no enqueued_at: the
    periodic sweep (documents_requeue_stale) sends it again once the broker is back."""
    transaction.on_commit(lambda: _send(document.pk))


def _send(document_id: int) -> bool:
    try:
        tasks.document_ingest_task.delay(document_id)
    except Exception as exc:  # kombu raises OperationalError and friends
        logger.warning("could not reach the broker for document %s; the sweep will retry: %s", document_id, exc)
        return False
    Document.objects.filter(pk=document_id).update(enqueued_at=timezone.now())
    return True


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


@dataclass
class IngestOutcome:
    document_id: int
    status: str
    detail: str = ""
    unexpected: bool = False  # failed on an error the code did not foresee (a bug), not on the file


class Superseded(Exception):
    """The run's claim was taken over by another run: it must stop writing."""


@dataclass(frozen=True)
class _Run:
    """One claimed ingest run: every write it makes is fenced on its token, and its chunks are
    written under a generation number no other run has."""

    document_id: int
    token: str
    generation: int

    def row(self):
        """The document's row, as long as this run still holds the claim."""
        return Document.objects.filter(pk=self.document_id, ingest_token=self.token)

    def update(self, **fields) -> None:
        if not self.row().update(**fields):
            raise Superseded(f"document {self.document_id} was taken over by another run")


def heartbeat_interval() -> float:
    """How often a live run says so: well inside the stale limit, so a slow step is never
    mistaken for a dead worker."""
    return max(0.5, min(10.0, settings.RAGSITE_STALE_AFTER_SECONDS / 6))


def _claim(document_id: int, *, force: bool) -> _Run | None:
    """Take the document for one run: a conditional update, so two deliveries of one task
    cannot both process it. A 'processing' row with an old heartbeat belongs to a dead worker."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.RAGSITE_STALE_AFTER_SECONDS)
    claimable = Q(status=Document.Status.QUEUED) | Q(status=Document.Status.PROCESSING, heartbeat_at__lt=stale)
    if force:
        claimable |= Q(status__in=[Document.Status.READY, Document.Status.FAILED])
    token = uuid.uuid4().hex
    claimed = Document.objects.filter(claimable, pk=document_id).update(
        status=Document.Status.PROCESSING,
        ingest_token=token,
        last_generation=F("last_generation") + 1,
        reingest_requested=False,  # this run is the re-ingest that was asked for
        started_at=now,
        heartbeat_at=now,
        finished_at=None,
        pages_done=0,
        error="",
        progress_note="",
        updated_at=now,
    )
    if not claimed:
        return None
    generation = (
        Document.objects.filter(pk=document_id, ingest_token=token).values_list("last_generation", flat=True).first()
    )
    return None if generation is None else _Run(document_id, token, generation)


def document_ingest(*, document_id: int, force: bool = False, rebuild_index: bool = True, progress=None) -> IngestOutcome:
    """Extract, chunk and embed one document; idempotent, and safe against a second run.

    Chunks are written under the run's own generation number and swapped in with one
    transaction at the end, so a crash, a second delivery or a run that was taken over never
    leaves duplicated or half-replaced chunks. A page or a passage that fails is skipped with
    its reason; a re-ingest that fails keeps the previous generation searchable.
    `progress(pages_done, page_count)` is called as pages are done."""
    run = _claim(document_id, force=force)
    if run is None:
        status = Document.objects.filter(pk=document_id).values_list("status", flat=True).first()
        return IngestOutcome(document_id, status or "missing", "already handled or taken by another worker")
    document = Document.objects.get(pk=document_id)
    try:
        with heartbeat(lambda: bool(run.row().update(heartbeat_at=timezone.now())), interval=heartbeat_interval()):
            try:
                outcome = _ingest_claimed(document, run, progress=progress)
            except PdfError as exc:
                outcome = _fail(document, run, str(exc))
            except Superseded:
                raise
            except Exception as exc:
                logger.exception("document %s failed unexpectedly", document_id)
                outcome = _fail(document, run, f"unexpected error while processing {document.original_filename}: {exc}")
                outcome.unexpected = True
    except Superseded:
        Chunk.objects.filter(document_id=document_id, generation=run.generation).delete()
        logger.warning("document %s: this run was taken over by another one; its work is discarded", document_id)
        return IngestOutcome(document_id, "superseded", "taken over by another run")
    if rebuild_index and outcome.status != Document.Status.FAILED:
        index_rebuild_request(in_process=False)
    return outcome


def _page_drafts(page: PageText, *, embedder: Embedder, max_tokens: int) -> tuple[PageText, list[ChunkDraft]]:
    """A page's chunks; a page that cannot be chunked becomes a failed page, the others go on."""
    if not page.text:
        return page, []
    try:
        return page, chunk_page(
            page=page.number, text=page.text, token_spans=embedder.token_spans,
            max_tokens=max_tokens, overlap_tokens=settings.RAGSITE_CHUNK_OVERLAP_TOKENS,
        )
    except Exception as exc:
        logger.warning("page %s could not be split into passages: %s", page.number, exc)
        return dataclasses.replace(page, text="", error=f"it could not be split into passages ({exc})"), []


def _embed_isolated(embedder: Embedder, drafts: list[ChunkDraft]) -> tuple[list, list[dict]]:
    """(draft, vector) pairs for the drafts the model can embed, and {"page", "reason"} for those
    it cannot: one passage the model fails on never takes its batch, or the document, down."""
    try:
        vectors = embedder.embed([draft.text for draft in drafts])
    except Exception as exc:
        if len(drafts) == 1:
            return [], [{"page": drafts[0].page, "reason": f"the embedding model failed on it: {exc}"}]
        logger.warning("an embedding batch of %s passages failed (%s); embedding them one by one", len(drafts), exc)
        kept, skipped = [], []
        for draft in drafts:
            pairs, errors = _embed_isolated(embedder, [draft])
            kept.extend(pairs)
            skipped.extend(errors)
        return kept, skipped
    finite = np.isfinite(vectors).all(axis=1)
    kept = [(draft, vector) for draft, vector, ok in zip(drafts, vectors, finite) if ok]
    skipped = [
        {"page": draft.page, "reason": "the embedding model gave no usable vector (not finite)"}
        for draft, ok in zip(drafts, finite) if not ok
    ]
    return kept, skipped


def _ingest_claimed(document: Document, run: _Run, *, progress) -> IngestOutcome:
    embedder = get_embedder()  # loaded once per process: not the document's time
    deadline = time.monotonic() + settings.RAGSITE_INGEST_SECONDS
    name = document.original_filename
    reader = pdf_open(document.file.path, filename=name)
    page_count = len(reader.pages)
    if page_count > settings.RAGSITE_MAX_PAGES:
        raise PdfError(
            f"{name} has {page_count} pages; the limit is {settings.RAGSITE_MAX_PAGES} (setting RAGSITE_MAX_PAGES)"
        )
    updates = {"page_count": page_count}
    if document.title == default_title(document.original_filename) and (title := pdf_title(reader)):
        updates["title"] = title[:255]  # the uploader gave none: the PDF's own is better than a file name
    run.update(**updates)

    # Leftovers of earlier runs that died before their swap (or were taken over); the current
    # generation stays searchable until this run swaps its own in.
    Chunk.objects.filter(document_id=run.document_id).exclude(generation=document.generation).delete()

    max_tokens = min(settings.RAGSITE_CHUNK_TOKENS, embedder.max_tokens)
    batch_pages = max(1, settings.RAGSITE_INGEST_PAGE_BATCH)
    ocr = get_ocr()
    # The read-ahead thread notes each page it recognises; inside a caller's transaction (a test)
    # another connection's write would wait on this one's locks, so there is no note then.
    notes_visible = not connection.in_atomic_block

    def note(text: str) -> None:
        if notes_visible:
            run.update(progress_note=text, heartbeat_at=timezone.now())

    def page_batches():
        """(last page, pages, chunk drafts) per batch of pages; runs ahead in its own thread."""
        for batch_start in range(1, page_count + 1, batch_pages):
            pages, drafts = [], []
            for page in pdf_pages(reader, start=batch_start, stop=batch_start + batch_pages - 1):
                page = page_with_ocr(page, ocr=ocr, path=document.file.path, page_count=page_count,
                                     min_chars=settings.RAGSITE_OCR_MIN_TEXT_CHARS, note=note)
                page, page_drafts = _page_drafts(page, embedder=embedder, max_tokens=max_tokens)
                pages.append(page)
                drafts.extend(page_drafts)
            yield min(page_count, batch_start + batch_pages - 1), pages, drafts

    ordinal = 0
    empty_pages, failed_pages, failures, skipped, ocr_pages = [], [], [], [], []
    pending: list = []
    pages_read = 0

    def over_time() -> PdfError:
        return PdfError(
            f"{name} took longer than the {settings.RAGSITE_INGEST_SECONDS} s a document may take "
            f"(setting RAGSITE_INGEST_SECONDS) and was given up after {pages_read} of {page_count} pages"
        )

    # Reading and chunking the next pages overlaps with embedding these (torch frees the GIL);
    # embedding waits for enough chunks to make full, length-sorted batches. A document past its
    # time is failed with the reason, even while a page hangs in the reading thread, so that
    # one pathological file cannot hold the worker, and the queue behind it.
    batches = read_ahead(page_batches(), depth=2, deadline=deadline)
    while True:
        try:
            last_page, pages, drafts = next(batches)
        except StopIteration:
            break
        except TimeoutError:
            raise over_time() from None
        if time.monotonic() > deadline and last_page < page_count:
            batches.close()
            raise over_time()
        pages_read = last_page
        for page in pages:
            if page.error:
                failed_pages.append(page.number)
                failures.append(f"page {page.number}: {page.error}")
            elif not page.text:
                empty_pages.append(page.number)
            elif page.ocr:
                ocr_pages.append(page.number)
        pending.extend(drafts)
        if len(pending) < settings.RAGSITE_EMBED_BATCH_CHUNKS and last_page < page_count:
            continue
        embedded, dropped = _embed_isolated(embedder, pending) if pending else ([], [])
        skipped.extend(dropped)
        sentences = (
            sentence_vectors_embed(embedder=embedder, texts=[draft.text for draft, _ in embedded])
            if settings.RAGSITE_SENTENCE_VECTORS else [b""] * len(embedded)
        )
        Chunk.objects.bulk_create(
            Chunk(
                document_id=run.document_id,
                generation=run.generation,
                ordinal=ordinal + i,
                page=draft.page,
                text=draft.text,
                char_start=draft.char_start,
                char_end=draft.char_end,
                token_count=draft.token_count,
                embedding=vector.astype("<f4").tobytes(),
                embedding_model=embedder.name,
                sentence_embeddings=sentences[i],
                ocr=draft.page in ocr_pages,
            )
            for i, (draft, vector) in enumerate(embedded)
        )
        ordinal += len(embedded)
        pending = []
        run.update(pages_done=last_page, heartbeat_at=timezone.now())
        if progress:
            progress(last_page, page_count)

    if ordinal == 0:
        if failed_pages and not empty_pages:
            raise PdfError(f"{name}: no page could be read ({'; '.join(failures[:5])})")
        if skipped:
            raise PdfError(f"{name}: no passage could be embedded ({skipped[0]['reason']})")
        if ocr.enabled:
            raise PdfError(f"{name}: no extractable text (no text layer, and OCR found no text on its pages)")
        raise PdfError(f"{name}: no extractable text (scanned PDF, needs OCR)")

    notes = []
    if failed_pages:
        notes.append(
            f"{len(failed_pages)} of {page_count} pages could not be read and were skipped: " + "; ".join(failures[:10])
        )
    if skipped:
        notes.append(
            f"{len(skipped)} passage(s) were skipped: " + "; ".join(f"page {s['page']}: {s['reason']}" for s in skipped[:5])
        )
    with transaction.atomic():
        requeue = _lock(run)
        Chunk.objects.filter(document_id=run.document_id).exclude(generation=run.generation).delete()
        # Searchable when this transaction commits, with a backend that indexes as chunks are written.
        index_chunks(
            chunk_ids=Chunk.objects.filter(document_id=run.document_id, generation=run.generation).values_list("pk", flat=True),
            document_id=run.document_id, generation=run.generation,
        )
        Document.objects.filter(pk=run.document_id).update(
            status=Document.Status.QUEUED if requeue else Document.Status.READY,
            generation=run.generation,
            chunk_count=ordinal,
            pages_done=page_count,
            empty_pages=empty_pages,
            failed_pages=failed_pages,
            ocr_pages=ocr_pages,
            skipped_chunks=skipped[:SKIPPED_LISTED],
            error=" ".join(notes),
            embedding_model=embedder.name,
            finished_at=timezone.now(),
            updated_at=timezone.now(),
            **_release_fields(requeue),
        )
        if requeue:
            document_enqueue(document=document)
    logger.info("document %s ready: %s pages, %s chunks", run.document_id, page_count, ordinal)
    return IngestOutcome(run.document_id, Document.Status.READY, " ".join(notes))


def _lock(run: _Run) -> bool:
    """Lock the document's row for the run's last write (inside a transaction); raises
    Superseded when the run lost its claim. Returns whether a re-ingest was asked for meanwhile."""
    requested = run.row().select_for_update().values_list("reingest_requested", flat=True).first()
    if requested is None:
        raise Superseded(f"document {run.document_id} was taken over by another run")
    return requested


def _release_fields(requeue: bool) -> dict:
    fields = {"ingest_token": "", "reingest_requested": False, "progress_note": ""}
    if requeue:  # a re-ingest was asked for while this run processed: one more run
        fields.update(pages_done=0, heartbeat_at=None, enqueued_at=None)
    return fields


def _fail(document: Document, run: _Run, reason: str) -> IngestOutcome:
    """End the run as failed. The run's own chunks go; a document that had a good generation
    keeps it searchable (and stays ready, with the reason the re-ingest failed)."""
    with transaction.atomic():
        requeue = _lock(run)
        Chunk.objects.filter(document_id=run.document_id, generation=run.generation).delete()
        kept = Document.objects.filter(pk=run.document_id).values_list("generation", "chunk_count").get()
        if kept[0]:
            status = Document.Status.READY
            reason = f"re-ingest failed, the previous version ({kept[1]} passages) is still searchable: {reason}"
        else:
            status = Document.Status.FAILED
        Document.objects.filter(pk=run.document_id).update(
            status=Document.Status.QUEUED if requeue else status,
            error=reason,
            chunk_count=kept[1] if kept[0] else 0,
            finished_at=timezone.now(),
            updated_at=timezone.now(),
            **_release_fields(requeue),
        )
        if requeue:
            document_enqueue(document=document)
    logger.info("document %s failed: %s", run.document_id, reason)
    return IngestOutcome(run.document_id, status, reason)


def documents_requeue_stale() -> int:
    """Send again the documents that no worker is on: queued but never handed to the broker (it
    was down), processing with an old heartbeat (the worker died), or queued long ago while no
    worker shows any sign of life (the message was lost). A backlog that workers are getting
    through is left alone: its messages are waiting in the broker. Returns how many were sent."""
    stale = timezone.now() - timedelta(seconds=settings.RAGSITE_STALE_AFTER_SECONDS)
    lost = Q(status=Document.Status.QUEUED, enqueued_at__isnull=True) | Q(
        status=Document.Status.PROCESSING, heartbeat_at__lt=stale
    )
    workers_busy = Document.objects.filter(status=Document.Status.PROCESSING, heartbeat_at__gte=stale).exists()
    if not workers_busy:
        lost |= Q(status=Document.Status.QUEUED, enqueued_at__lt=stale)
    sent = [document_id for document_id in Document.objects.filter(lost).values_list("pk", flat=True) if _send(document_id)]
    if sent:
        logger.info("requeued %s document(s) no worker was on: %s", len(sent), sent)
    return len(sent)
