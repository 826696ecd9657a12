"""Reads of the corpus."""

from datetime import timedelta

from django.conf import settings
from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone

from documents.models import Chunk, Document


def document_list(*, status: str | None = None) -> QuerySet[Document]:
    documents = Document.objects.all()
    if status:
        documents = documents.filter(status=status)
    return documents


def document_status_counts() -> dict[str, int]:
    """How many documents are in each status, every status present (0 when none)."""
    counts = {choice: 0 for choice in Document.Status.values}
    for row in Document.objects.values("status").annotate(n=Count("id")):
        counts[row["status"]] = row["n"]
    return counts


def document_ids_missing(document_ids: list[int]) -> list[int]:
    """Those of document_ids that name no document, in order, each once."""
    present = set(Document.objects.filter(pk__in=document_ids).values_list("pk", flat=True))
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
