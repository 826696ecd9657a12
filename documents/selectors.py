"""Reads of the corpus."""

from django.db.models import Count, F, QuerySet

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


def current_chunks() -> QuerySet[Chunk]:
    """The chunks that count: each document's current generation. A document being re-ingested,
    or whose re-ingest failed, keeps its previous generation until a new one is swapped in."""
    return Chunk.objects.filter(generation=F("document__generation"))
