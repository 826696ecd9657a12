"""Small documents in collections, ingested for real (as the ingest command does), and a check that
a response carries nothing of a document its asker may not read."""

import json

from django.core.files.base import ContentFile

from documents.ingest import document_ingest
from documents.models import Chunk, Collection, Document
from documents.search.services import index_rebuild_request
from documents.services import document_create


def ingest_text(title: str, text: str, *, collection: Collection | None = None, rebuild: bool = True) -> Document:
    """A Markdown document stored in collection, ingested in this process and (rebuild) made
    searchable."""
    name = title.lower().replace(" ", "-") + ".md"
    document = document_create(
        file=ContentFile(f"# {title}\n\n{text}\n".encode(), name=name), title=title, enqueue=False, collection=collection
    )
    outcome = document_ingest(document_id=document.pk, rebuild_index=False)
    assert outcome.status == "ready", outcome.detail
    if rebuild:
        index_rebuild_request(in_process=True)
    document.refresh_from_db()
    return document


def secrets_of(document: Document) -> dict:
    """What must not reach an asker who may not read the document: its title, the words only it
    holds (its marker), its stored file's name, and its row ids."""
    return {
        "title": document.title,
        "file": document.file.name,
        "document_id": document.pk,
        "chunk_ids": set(Chunk.objects.filter(document_id=document.pk).values_list("pk", flat=True)),
    }


def _ids(value, key: str):
    if isinstance(value, dict):
        for name, item in value.items():
            if name == key and isinstance(item, int):
                yield item
            yield from _ids(item, key)
    elif isinstance(value, list):
        for item in value:
            yield from _ids(item, key)


def assert_no_leak(body, secrets: dict, marker: str, where: str = "") -> None:
    """body (bytes, str, or parsed JSON) names nothing of the document secrets describes, and
    holds none of its marker words."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body if isinstance(body, str) else json.dumps(body)
    assert secrets["title"] not in text, f"{where}: title {secrets['title']!r} in {text[:400]}"
    assert marker.lower() not in text.lower(), f"{where}: the text {marker!r} in {text[:400]}"
    assert secrets["file"].rsplit("/", 1)[-1] not in text, f"{where}: the file in {text[:400]}"
    parsed = body if isinstance(body, (dict, list)) else _json_or_events(text)
    assert secrets["document_id"] not in set(_ids(parsed, "document_id")), f"{where}: the document id in {text[:400]}"
    assert not secrets["chunk_ids"] & set(_ids(parsed, "chunk_id")), f"{where}: a chunk id in {text[:400]}"


def _json_or_events(text: str):
    try:
        return json.loads(text)
    except ValueError:
        pass
    events = []
    for line in text.splitlines():
        if line.startswith("data: "):
            try:
                events.append(json.loads(line[6:]))
            except ValueError:
                pass
    return events
