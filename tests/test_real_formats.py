"""Real Word, HTML, Markdown and text files nobody on the team wrote (tests/corpus/manifest.toml,
[[document]], fetched by `make corpus`) are ingested as an upload is, reach the outcome the
manifest expects, and each question finds a passage of its section within the top 5."""

import io

import pytest

from documents.ingest import document_ingest
from documents.models import Chunk
from documents.search.selectors import chunk_search
from documents.search.services import index_rebuild_request
from documents.services import document_create
from tests.corpus.fetch import default_cache, load_documents, sha256_of

pytestmark = [pytest.mark.corpus, pytest.mark.django_db]


def test_the_real_documents_of_every_format_are_read_by_section_and_found():
    cache, entries = default_cache(), load_documents()
    missing = [e["file"] for e in entries if not (cache / e["file"]).exists()
               or ("sha256" in e and sha256_of(cache / e["file"]) != e["sha256"])]
    if missing:
        pytest.skip(f"run `make corpus`: missing {', '.join(missing)}")
    ids, problems = {}, []
    for entry in entries:
        document = document_create(file=io.BytesIO((cache / entry["file"]).read_bytes()), filename=entry["file"], enqueue=False)
        outcome = document_ingest(document_id=document.pk, rebuild_index=False)
        document.refresh_from_db()
        ids[entry["file"]] = document.pk
        if outcome.status != entry["expect"] or (document.page_count or 0) < entry["sections_at_least"]:
            problems.append(f"{entry['file']}: {outcome.status}, {document.page_count} sections: {document.error}")
    index_rebuild_request(in_process=True)
    for entry in (e for e in entries if "question" in e):
        found = chunk_search(query=entry["question"], top_k=5).results
        sections = [r.section for r in found if r.document_id == ids[entry["file"]]]
        if not any(s == entry["section"] or s.startswith(entry["section"] + " › ") for s in sections):
            problems.append(f"{entry['file']}: {entry['question']!r} found {[(r.original_filename, r.section) for r in found]}")
    assert Chunk.objects.exclude(section="").exists()
    assert not problems, "\n".join(problems)
