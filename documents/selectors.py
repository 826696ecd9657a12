"""Reads of the corpus."""

from django.db.models import Count, QuerySet

from documents.models import Document


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
