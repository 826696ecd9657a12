"""Ingesting one document: claim it, read its pages, chunk and embed them, swap the new chunks in.

The worker (documents.tasks) and `manage.py ingest` run document_ingest. A run is a few named
steps, each of which may stop it with a reason the user reads:

    _claim          a conditional update hands the run a token and a generation of its own
    _open           the file opened by its format's extractor (documents.formats), its location
                    limit checked, its title taken when it has one
    _passages       locations (a PDF's pages, the other formats' sections) read ahead in a thread
                    (OCR where a page has no text layer), chunked
    _store          a batch of chunks embedded (and their sentences) and written, fenced
    _swap           one transaction makes the new generation current (or _fail keeps the old)
"""

import ctypes
import dataclasses
import itertools
import logging
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from documents.embedding import Embedder, get_embedder
from documents.formats import ExtractionError, Extractor, Location, Opened, get_extractor
from documents.lib import heartbeat, read_ahead
from documents.models import SKIPPED_LISTED, Chunk, Document
from documents.ocr import get_ocr
from documents.search.services import index_chunks, index_rebuild_request
from documents.text.chunking import ChunkDraft, chunk_page

logger = logging.getLogger(__name__)


# glibc's (None on other systems, and with a C library that has none, musl)
_LIBC = ctypes.CDLL(None) if sys.platform == "linux" else None
_MALLOC_TRIM = getattr(_LIBC, "malloc_trim", None)
_MALLOPT = getattr(_LIBC, "mallopt", None)
M_MMAP_THRESHOLD = -3  # glibc's malloc.h
# Blocks this large or larger come straight from the system and go straight back when freed.
LARGE_BLOCK_BYTES = 1 << 20


def default_title(filename: str) -> str:
    """The title a document gets when the uploader gives none (until its file says better)."""
    return Path(filename).stem.replace("_", " ").strip()


@dataclass
class IngestOutcome:
    document_id: int
    status: str
    detail: str = ""
    unexpected: bool = False  # failed on an error the code did not foresee (a bug), not on the file
    requeue: bool = False  # a re-ingest was asked for while this run processed: send it once more


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
    `progress(pages_done, page_count)` is called as pages are done. When a re-ingest was asked
    for meanwhile, the document is queued again and the outcome says `requeue`."""
    _large_blocks_returned()
    run = _claim(document_id, force=force)
    if run is None:
        status = Document.objects.filter(pk=document_id).values_list("status", flat=True).first()
        return IngestOutcome(document_id, status or "missing", "already handled or taken by another worker")
    document = Document.objects.get(pk=document_id)
    try:
        with heartbeat(lambda: bool(run.row().update(heartbeat_at=timezone.now())), interval=heartbeat_interval()):
            try:
                outcome = _ingest_claimed(document, run, progress=progress)
            except ExtractionError as exc:
                outcome = _fail(run, str(exc))
            except Superseded:
                raise
            except Exception as exc:
                if not Document.objects.filter(pk=document_id).exists():
                    raise Superseded(f"document {document_id} was deleted") from exc  # what broke its writes
                logger.exception("document %s failed unexpectedly", document_id)
                outcome = _fail(run, f"unexpected error while processing {document.original_filename}: {exc}")
                outcome.unexpected = True
    except Superseded:
        return _abandoned(run)
    finally:
        _memory_back()
    if rebuild_index and outcome.status != Document.Status.FAILED:
        index_rebuild_request(in_process=False)
    return outcome


def _abandoned(run: _Run) -> IngestOutcome:
    """The outcome of a run that lost its claim: taken over by another run, or its document
    deleted meanwhile. Its own chunks go."""
    Chunk.objects.filter(document_id=run.document_id, generation=run.generation).delete()
    if not Document.objects.filter(pk=run.document_id).exists():
        logger.info("document %s was deleted while it was being ingested; its run stops", run.document_id)
        return IngestOutcome(run.document_id, "deleted", "deleted while it was being ingested")
    logger.warning("document %s: this run was taken over by another one; its work is discarded", run.document_id)
    return IngestOutcome(run.document_id, "superseded", "taken over by another run")


@dataclass
class _Tally:
    """What the run met on the way: locations (pages, sections) without text, those that failed
    (with why), pages read by OCR, passages the model could not embed, and how many chunks are
    stored; `places` keeps each section's heading path and anchor for its chunks."""

    page_count: int
    unit: str = "page"
    reader_notes: list[str] = field(default_factory=list)
    empty_pages: list[int] = field(default_factory=list)
    failed_pages: list[int] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    ocr_pages: list[int] = field(default_factory=list)
    repeats: dict[int, list[int]] = field(default_factory=dict)  # page read -> later pages with its content
    places: dict[int, tuple[str, str]] = field(default_factory=dict)  # location -> (section, anchor)
    skipped: list[dict] = field(default_factory=list)
    stored: int = 0

    def count(self, page: Location) -> None:
        if page.section or page.anchor:
            self.places[page.number] = (page.section, page.anchor)
        if page.error:
            self.failed_pages.append(page.number)
            self.failures.append(f"{self.unit} {page.number}: {page.error}")
        elif page.repeat_of:
            self.repeats.setdefault(page.repeat_of, []).append(page.number)
        elif not page.text:
            self.empty_pages.append(page.number)
        elif page.ocr:
            self.ocr_pages.append(page.number)

    def notes(self) -> str:
        """What went wrong along the way, for the row's error field ("" when nothing did)."""
        notes = list(self.reader_notes)
        if self.failed_pages:
            notes.append(
                f"{len(self.failed_pages)} of {self.page_count} {self.unit}s could not be read and were skipped: "
                + "; ".join(self.failures[:10])
            )
        if self.repeats:
            notes.append(
                f"{sum(map(len, self.repeats.values()))} of {self.page_count} pages repeat an earlier page "
                "(read and indexed once): "
                + "; ".join(f"pages {_spans(later)} repeat page {first}" for first, later in list(self.repeats.items())[:5])
            )
        if self.skipped:
            notes.append(
                f"{len(self.skipped)} passage(s) were skipped: "
                + "; ".join(f"{self.unit} {s['page']}: {s['reason']}" for s in self.skipped[:5])
            )
        return " ".join(notes)


def _spans(numbers: list[int]) -> str:
    """Page numbers as ranges: [2, 3, 4, 7] -> "2-4, 7"."""
    spans = []
    for number in numbers:
        if spans and number == spans[-1][1] + 1:
            spans[-1][1] = number
        else:
            spans.append([number, number])
    return ", ".join(f"{a}-{b}" if a != b else f"{a}" for a, b in spans)


def _ingest_claimed(document: Document, run: _Run, *, progress) -> IngestOutcome:
    embedder = get_embedder()  # loaded once per process: not the document's time
    deadline = time.monotonic() + settings.RAGSITE_INGEST_SECONDS
    extractor = get_extractor(document.format)
    opened = _open(document, run, extractor, deadline=deadline)
    # Leftovers of earlier runs that died before their swap (or were taken over); the current
    # generation stays searchable until this run swaps its own in.
    Chunk.objects.filter(document_id=run.document_id).exclude(generation=document.generation).delete()
    tally = _Tally(page_count=opened.count, unit=extractor.unit, reader_notes=opened.notes)
    for last_page, drafts in _passages(document, run, extractor, opened, embedder, tally, deadline=deadline):
        _store(drafts, run, embedder, tally)
        run.update(pages_done=last_page, heartbeat_at=timezone.now())
        if progress:
            progress(last_page, tally.page_count)
    if tally.stored == 0:
        raise ExtractionError(_nothing_stored(document, tally))
    return _swap(run, tally, embedder)


def _open(document: Document, run: _Run, extractor: Extractor, *, deadline: float) -> Opened:
    """The document opened by its format's extractor (in a thread, so that a file that takes a
    reader past the document's time fails with the reason); its location count (and its title,
    when the uploader gave none and the file has one) written to the row. ExtractionError when
    it cannot be read or has too many locations."""
    name = document.original_filename
    try:
        opened = _within(lambda: extractor.open(document.file.path, filename=name), deadline=deadline)
    except TimeoutError:
        raise ExtractionError(
            f"{name} took longer than the {settings.RAGSITE_INGEST_SECONDS} s a document may take "
            "(setting RAGSITE_INGEST_SECONDS) to be read"
        ) from None
    if opened.count > settings.RAGSITE_MAX_PAGES:
        raise ExtractionError(
            f"{name} has {opened.count} {extractor.unit}s; the limit is {settings.RAGSITE_MAX_PAGES} (setting RAGSITE_MAX_PAGES)"
        )
    updates = {"page_count": opened.count}
    if document.title == default_title(document.original_filename) and opened.title:
        updates["title"] = opened.title[:255]  # the uploader gave none: the file's own is better than a file name
    run.update(**updates)
    return opened


def _within(work: Callable, *, deadline: float):
    """work() run in a thread of its own; TimeoutError when it is not done by the deadline (the
    thread is left to finish: a parser cannot be stopped, but the run no longer waits on it)."""
    results = read_ahead((work() for _ in range(1)), depth=1, deadline=deadline)
    try:
        return next(results)
    finally:
        results.close()


def _passages(document, run: _Run, extractor: Extractor, opened: Opened, embedder: Embedder, tally: _Tally, *,
              deadline: float) -> Iterator:
    """(last location read, chunk drafts) in batches of at least RAGSITE_EMBED_BATCH_CHUNKS drafts
    (fewer at the end), each location counted in the tally.

    Locations are read, recognised and chunked in a thread ahead of the embedding (torch frees the
    GIL), RAGSITE_INGEST_PAGE_BATCH at a time. A document past its time (RAGSITE_INGEST_SECONDS)
    fails with the reason, even while a page hangs in the reading thread, so that one
    pathological file cannot hold the worker and the queue behind it."""
    page_count = tally.page_count
    pages_read = 0

    def over_time() -> ExtractionError:
        return ExtractionError(
            f"{document.original_filename} took longer than the {settings.RAGSITE_INGEST_SECONDS} s a document "
            f"may take (setting RAGSITE_INGEST_SECONDS) and was given up after {pages_read} of {page_count} {tally.unit}s"
        )

    pages = _page_batches(document, extractor, opened, embedder, note=_progress_note(run))
    batches = read_ahead(pages, depth=2, deadline=deadline)
    pending: list[ChunkDraft] = []
    while True:
        try:
            last_page, pages, drafts = next(batches)
        except StopIteration:
            return
        except TimeoutError:
            raise over_time() from None
        if time.monotonic() > deadline and last_page < page_count:
            batches.close()
            raise over_time()
        done_before, pages_read = pages_read, last_page
        for page in pages:
            tally.count(page)
        pending.extend(drafts)
        if len(pending) >= settings.RAGSITE_EMBED_BATCH_CHUNKS or last_page == page_count:
            # At most a batch embedded between two looks at the clock: one long section can
            # hold thousands of passages.
            size = max(1, settings.RAGSITE_EMBED_BATCH_CHUNKS)
            for start in range(0, len(pending), size):
                if start and time.monotonic() > deadline:
                    batches.close()
                    pages_read = done_before
                    raise over_time()
                yield (last_page if start + size >= len(pending) else done_before), pending[start:start + size]
            pending = []


def _page_batches(document, extractor: Extractor, opened: Opened, embedder: Embedder, *, note) -> Iterator[tuple[int, list, list]]:
    """(last location, locations, chunk drafts) per RAGSITE_INGEST_PAGE_BATCH locations; runs in
    the read-ahead thread, and tells note(text) which page it recognises."""
    page_count = opened.count
    batch_pages = max(1, settings.RAGSITE_INGEST_PAGE_BATCH)
    max_tokens = min(settings.RAGSITE_CHUNK_TOKENS, embedder.max_tokens)
    read = extractor.locations(opened, filename=document.original_filename, note=note)
    for batch_start in range(1, page_count + 1, batch_pages):
        pages, drafts = [], []
        for page in itertools.islice(read, batch_pages):
            if not page.repeat_of:  # a repeat was recognised and chunked as the page it repeats
                page, page_drafts = _page_drafts(page, embedder=embedder, max_tokens=max_tokens)
                drafts.extend(page_drafts)
            pages.append(page)
        yield min(page_count, batch_start + batch_pages - 1), pages, drafts


def _progress_note(run: _Run) -> Callable[[str], None]:
    """What the read-ahead thread calls as it recognises a page ("OCR: page 3 of 40"). Inside a
    caller's transaction (a test) another connection's write would wait on this one's locks, so
    there is no note then: made in the run's own thread, which knows."""
    visible = not connection.in_atomic_block

    def note(text: str) -> None:
        if visible:
            run.update(progress_note=text, heartbeat_at=timezone.now())

    return note


def _page_drafts(page: Location, *, embedder: Embedder, max_tokens: int) -> tuple[Location, list[ChunkDraft]]:
    """A location's chunks; one that cannot be chunked becomes a failed one, the others go on."""
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


def _store(drafts: list[ChunkDraft], run: _Run, embedder: Embedder, tally: _Tally) -> None:
    """Embed a batch of drafts (and their sentences, for extractive answers) and write them under
    the run's generation; a draft the model fails on is skipped with its reason."""
    embedded, dropped = _embed_isolated(embedder, drafts) if drafts else ([], [])
    tally.skipped.extend(dropped)
    Chunk.objects.bulk_create(
        Chunk(
            document_id=run.document_id,
            generation=run.generation,
            ordinal=tally.stored + i,
            page=draft.page,
            section=tally.places.get(draft.page, ("", ""))[0],
            anchor=tally.places.get(draft.page, ("", ""))[1][:255],
            text=draft.text,
            char_start=draft.char_start,
            char_end=draft.char_end,
            token_count=draft.token_count,
            embedding=vector.astype("<f4").tobytes(),
            embedding_model=embedder.name,
            sentence_embeddings=sentences,
            ocr=draft.page in tally.ocr_pages,
        )
        for i, (draft, vector, sentences) in enumerate(embedded)
    )
    tally.stored += len(embedded)
    _memory_back()


def _large_blocks_returned() -> None:
    """Have glibc map every block of LARGE_BLOCK_BYTES or more on its own, so that it goes back to
    the system the moment it is freed. By default the threshold climbs to the largest block freed
    so far (up to 32 MB), after which torch's activations (tens of MB a layer) are carved from the
    heap and their holes stay the process's: embedding the R reference manual's passages peaked
    142 MB lower with it (1,009 against 867 MB, batches of 32). Setting it again costs nothing;
    no-op elsewhere."""
    if _MALLOPT is not None:
        _MALLOPT(M_MMAP_THRESHOLD, LARGE_BLOCK_BYTES)


def _memory_back() -> None:
    """Hand the memory a batch freed back to the system. glibc keeps freed blocks for the process,
    and torch's large activations mixed with the run's small objects leave the heap full of free
    holes: without this the 2,415-page R manual's ingest grew to 1.76 GB, and a worker kept
    0.15-0.25 GB more than it used after each document (bench/footprint.py). No-op elsewhere."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def _embed_isolated(embedder: Embedder, drafts: list[ChunkDraft]) -> tuple[list, list[dict]]:
    """(draft, vector, packed sentence vectors) for the drafts the model can embed (the sentences
    b"" unless RAGSITE_SENTENCE_VECTORS), and {"page", "reason"} for those it cannot: one passage
    the model fails on never takes its batch, or the document, down."""
    try:
        vectors, sentences = embedder.embed_passages(
            [draft.text for draft in drafts], sentences=settings.RAGSITE_SENTENCE_VECTORS
        )
    except Exception as exc:
        if len(drafts) == 1:
            return [], [{"page": drafts[0].page, "reason": f"the embedding model failed on it: {exc}"}]
        logger.warning("an embedding batch of %s passages failed (%s); embedding them one by one", len(drafts), exc)
        kept, skipped = [], []
        for draft in drafts:
            triples, errors = _embed_isolated(embedder, [draft])
            kept.extend(triples)
            skipped.extend(errors)
        return kept, skipped
    finite = np.isfinite(vectors).all(axis=1)
    kept = [(draft, vector, packed) for draft, vector, packed, ok in zip(drafts, vectors, sentences, finite) if ok]
    skipped = [
        {"page": draft.page, "reason": "the embedding model gave no usable vector (not finite)"}
        for draft, ok in zip(drafts, finite) if not ok
    ]
    return kept, skipped


def _nothing_stored(document: Document, tally: _Tally) -> str:
    """Why a document that yielded no passage at all fails."""
    name = document.original_filename
    if tally.failed_pages and not tally.empty_pages:
        return f"{name}: no {tally.unit} could be read ({'; '.join(tally.failures[:5])})"
    if tally.skipped:
        return f"{name}: no passage could be embedded ({tally.skipped[0]['reason']})"
    if document.format != Document.Format.PDF:
        return f"{name}: no text (the file holds no words outside its markup)"
    if get_ocr().enabled:
        return f"{name}: no extractable text (no text layer, and OCR found no text on its pages)"
    return f"{name}: no extractable text (scanned PDF, needs OCR)"


def _swap(run: _Run, tally: _Tally, embedder: Embedder) -> IngestOutcome:
    """Make the run's generation the document's, in one transaction with its search indexing."""
    notes = tally.notes()
    with transaction.atomic():
        requeue = _lock(run)
        Chunk.objects.filter(document_id=run.document_id).exclude(generation=run.generation).delete()
        # Searchable when this transaction commits, with a backend that indexes as chunks are written.
        index_chunks(
            chunk_ids=Chunk.objects.filter(document_id=run.document_id, generation=run.generation).values_list("pk", flat=True),
            document_id=run.document_id, generation=run.generation,
        )
        fields = {
            "generation": run.generation,
            "chunk_count": tally.stored,
            "pages_done": tally.page_count,
            "empty_pages": tally.empty_pages,
            "failed_pages": tally.failed_pages,
            "ocr_pages": tally.ocr_pages,
            "skipped_chunks": tally.skipped[:SKIPPED_LISTED],
            "error": notes,
            "embedding_model": embedder.name,
            "finished_at": timezone.now(),
            "updated_at": timezone.now(),
        }
        Document.objects.filter(pk=run.document_id).update(**_released(fields, requeue, Document.Status.READY))
    logger.info("document %s ready: %s %ss, %s chunks", run.document_id, tally.page_count, tally.unit, tally.stored)
    return IngestOutcome(run.document_id, Document.Status.READY, notes, requeue=requeue)


def _lock(run: _Run) -> bool:
    """Lock the document's row for the run's last write (inside a transaction); raises
    Superseded when the run lost its claim. Returns whether a re-ingest was asked for meanwhile."""
    requested = run.row().select_for_update().values_list("reingest_requested", flat=True).first()
    if requested is None:
        raise Superseded(f"document {run.document_id} was taken over by another run")
    return requested


def _released(fields: dict, requeue: bool, status: str) -> dict:
    """The row's fields at the end of a run: what it wrote, its status, the claim given up; or,
    when a re-ingest was asked for while it processed, queued again (and not yet sent) from the
    first page."""
    fields = {**fields, "status": status, "ingest_token": "", "reingest_requested": False, "progress_note": ""}
    if requeue:
        fields.update(status=Document.Status.QUEUED, pages_done=0, heartbeat_at=None, enqueued_at=None)
    return fields


def _fail(run: _Run, reason: str) -> IngestOutcome:
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
        fields = {"error": reason, "chunk_count": kept[1] if kept[0] else 0, "finished_at": timezone.now(),
                  "updated_at": timezone.now()}
        Document.objects.filter(pk=run.document_id).update(**_released(fields, requeue, status))
    logger.info("document %s failed: %s", run.document_id, reason)
    return IngestOutcome(run.document_id, status, reason, requeue=requeue)
