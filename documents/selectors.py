"""Reads of the corpus."""

from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone

from documents.models import Chunk, Document


def document_list(*, status: str | None = None, collection_ids: list[int] | None = None) -> QuerySet[Document]:
    """The documents (of collection_ids when given), in status when given."""
    documents = Document.objects.all() if collection_ids is None else Document.objects.filter(collection_id__in=collection_ids)
    if status:
        documents = documents.filter(status=status)
    return documents


def document_status_counts(*, collection_ids: list[int] | None = None) -> dict[str, int]:
    """How many documents (of collection_ids when given) are in each status, every status
    present (0 when none)."""
    counts = {choice: 0 for choice in Document.Status.values}
    documents = Document.objects.all() if collection_ids is None else Document.objects.filter(collection_id__in=collection_ids)
    for row in documents.values("status").annotate(n=Count("id")):
        counts[row["status"]] = row["n"]
    return counts


def document_ids_missing(document_ids: list[int], *, collection_ids: list[int] | None = None) -> list[int]:
    """Those of document_ids that name no document (of collection_ids, the collections the asker
    may read, when given: one they may not read is missing alike), in order, each once."""
    documents = Document.objects.filter(pk__in=document_ids)
    if collection_ids is not None:
        documents = documents.filter(collection_id__in=collection_ids)
    present = set(documents.values_list("pk", flat=True))
    return [pk for pk in dict.fromkeys(document_ids) if pk not in present]


def current_chunks() -> QuerySet[Chunk]:
    """The chunks that count: each document's current generation. A document being re-ingested,
    or whose re-ingest failed, keeps its previous generation until a new one is swapped in."""
    return Chunk.objects.filter(generation=F("document__generation"))


def documents_no_worker_is_on() -> list[int]:
    """The documents to send to a worker again: queued but never handed to the broker (it was
    down), processing with an old heartbeat (the worker died), or queued long ago while no worker
    shows any sign of life (the message was lost). A backlog that workers are getting through is
    left alone: its messages are waiting in the broker."""
    stale = timezone.now() - timedelta(seconds=settings.RAGSITE_STALE_AFTER_SECONDS)
    lost = Q(status=Document.Status.QUEUED, enqueued_at__isnull=True) | Q(
        status=Document.Status.PROCESSING, heartbeat_at__lt=stale
    )
    workers_busy = Document.objects.filter(status=Document.Status.PROCESSING, heartbeat_at__gte=stale).exists()
    if not workers_busy:
        lost |= Q(status=Document.Status.QUEUED, enqueued_at__lt=stale)
    return list(Document.objects.filter(lost).values_list("pk", flat=True))


@dataclass
class TextPart:
    """One location of a document's text view: its heading path (shown where a section starts),
    the anchor its wrapper carries (or, when the marked passage is in it, the mark carries), and
    its text cut around the marked passage."""

    section: str
    anchor: str
    before: str
    marked: str = ""
    after: str = ""
    mark_anchor: str = ""


@dataclass
class TextView:
    parts: list[TextPart] = field(default_factory=list)
    asked: bool = False  # a passage was asked for
    marked: bool = False  # and found


def document_text_view(*, document: Document, chunk_id: int | None = None) -> TextView:
    """A section-based document read again from its stored file, location by location, with the
    passage of chunk `chunk_id` (one of this document's) marked. ExtractionError when the file
    can no longer be read."""
    from documents.formats import get_extractor

    extractor = get_extractor(document.format)
    opened = extractor.open(document.file.path, filename=document.original_filename)
    chunk = Chunk.objects.filter(pk=chunk_id, document=document).only("page", "text", "char_start").first() if chunk_id else None
    view, seen = TextView(asked=chunk_id is not None), set()
    for location in extractor.locations(opened, filename=document.original_filename):
        first = location.anchor not in seen
        seen.add(location.anchor)
        part = TextPart(section=location.section if first else "", anchor=location.anchor if first else "", before=location.text)
        if chunk is not None and chunk.page == location.number:
            start = chunk.char_start if location.text.startswith(chunk.text, chunk.char_start) else location.text.find(chunk.text)
            if start >= 0:
                end = start + len(chunk.text)
                part.before, part.marked, part.after = location.text[:start], location.text[start:end], location.text[end:]
                part.mark_anchor, part.anchor = location.anchor, ""  # the citation's #anchor lands on the passage
                view.marked = True
        view.parts.append(part)
    return view
