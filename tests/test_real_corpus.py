"""Real documents never break search: every PDF of the regression corpus (tests/corpus/manifest.toml,
written by nobody on the team, fetched by `make corpus`) is uploaded through the HTTP API of a real
ASGI server, ingested by a real `celery worker` on PostgreSQL + Redis, and must reach the outcome the
manifest expects; then the search index must hold every ready document and answer a question about
each one from the page that holds the answer.

The corpus takes minutes to ingest, so all of it is one test, run once."""

import os
import time
from pathlib import Path

import httpx
import pytest

from documents.models import Chunk
from tests.corpus.fetch import default_cache, load_manifest, sha256_of
from tests.processes import (
    ROOT,
    free_port,
    process_env,
    require_production_services,
    running,
    staff_api_key,
    wait_for,
    wait_http,
    web_args,
    worker_args,
)

REDIS_URL = os.environ.get("RAGSITE_TEST_CORPUS_REDIS_URL", os.environ.get("RAGSITE_TEST_REDIS_URL", "redis://127.0.0.1:6379/13"))
ARTIFACT = ROOT / "test-artifacts" / "corpus.md"
# The server's and the worker's output, kept where CI collects artifacts (tmp_path is pruned).
PROCESS_LOG = ROOT / "test-artifacts" / "corpus-processes.log"
# The 1,000-page manual alone takes minutes on 2 cores: budget every document by its pages.
SECONDS_PER_DOCUMENT, SECONDS_PER_PAGE = 60, 1.0


def corpus_or_skip() -> tuple[Path, list[dict]]:
    """The manifest and the cache holding its files; skip (fail in CI) when files are missing."""
    cache, entries = default_cache(), load_manifest()
    missing = [e["file"] for e in entries if not (cache / e["file"]).exists() or sha256_of(cache / e["file"]) != e["sha256"]]
    if missing:
        message = (
            f"{len(missing)} of {len(entries)} corpus PDFs are missing from {cache} or differ from the manifest "
            f"({', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''}): run `make corpus`"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return cache, entries


def upload(base: str, auth, path: Path) -> httpx.Response:
    with path.open("rb") as handle:
        response = httpx.post(
            f"{base}/api/documents/", auth=auth, data={"title": path.name},
            files={"file": (path.name, handle, "application/pdf")}, timeout=120,
        )
    assert response.status_code in (201, 400), f"{path.name}: {response.status_code} {response.text}"
    return response


def all_documents(base: str, auth) -> dict[int, dict]:
    response = httpx.get(f"{base}/api/documents/", params={"limit": 1000}, auth=auth, timeout=30)
    response.raise_for_status()
    return {row["id"]: row for row in response.json()["results"]}


def search(base: str, auth, query: str, top_k: int) -> list[dict]:
    response = httpx.post(f"{base}/api/search/", json={"query": query, "top_k": top_k}, auth=auth, timeout=60)
    assert response.status_code == 200, f"search {query!r}: {response.status_code} {response.text}"
    return response.json()["results"]


def seconds(row: dict) -> str:
    from django.utils.dateparse import parse_datetime

    if not row.get("started_at") or not row.get("finished_at"):
        return "-"
    return f"{(parse_datetime(row['finished_at']) - parse_datetime(row['started_at'])).total_seconds():.1f}"


def markdown_table(entries: list[dict], rows: dict[str, dict], refused: dict[str, str], found_at: dict[str, str]) -> str:
    lines = [
        "| file | pages | outcome | chunks | seconds | search |",
        "| --- | ---: | --- | ---: | ---: | --- |",
    ]
    for entry in entries:
        if entry["file"] not in rows:
            lines.append(f"| {entry['file']} | - | refused at upload: {refused[entry['file']].replace('|', '/')} | 0 | - | |")
            continue
        row = rows[entry["file"]]
        outcome = row["status"]
        if row["status"] == "failed":
            outcome += f": {row['error']}"
        elif row["failed_pages"] or row["empty_pages"]:
            outcome += f" (failed pages {row['failed_pages'] or '-'}, empty pages {len(row['empty_pages'])})"
        lines.append(
            f"| {entry['file']} | {row['page_count'] or '-'} | {outcome.replace('|', '/')} | {row['chunk_count']} "
            f"| {seconds(row)} | {found_at.get(entry['file'], '')} |"
        )
    return "\n".join(lines) + "\n"


@pytest.mark.corpus
@pytest.mark.production
@pytest.mark.django_db(transaction=True)
def test_the_real_pdf_corpus_ingests_to_its_expected_outcomes_and_every_ready_document_is_found(
    tmp_path, django_user_model
):
    cache, entries = corpus_or_skip()
    broker = require_production_services(REDIS_URL)
    auth = staff_api_key(django_user_model, "corpus-staff")
    env = process_env(tmp_path, CELERY_BROKER_URL=broker, settings={"RAGSITE_SEARCH_BACKEND": {
        "BACKEND": "documents.search.embedded.EmbeddedIndexBackend", "OPTIONS": {"version_check_seconds": 1}}})
    port = free_port()
    PROCESS_LOG.parent.mkdir(exist_ok=True)
    PROCESS_LOG.write_bytes(b"")
    log = PROCESS_LOG
    began = time.monotonic()

    with running(worker_args("--concurrency=2"), env, log), running([*web_args(port), "--no-access-log"], env, log):
        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/api/schema/", log=log)

        # The largest first, so that it does not hold the others back at the end.
        ordered = sorted(entries, key=lambda e: -(cache / e["file"]).stat().st_size)
        answers = {entry["file"]: upload(base, auth, cache / entry["file"]) for entry in ordered}
        ids = {name: answer.json()["id"] for name, answer in answers.items() if answer.status_code == 201}
        refused = {name: answer.json()["file"][0] for name, answer in answers.items() if answer.status_code == 400}
        budget = sum(SECONDS_PER_DOCUMENT + SECONDS_PER_PAGE * entry["page_count"] for entry in entries)

        def everything_settled():
            rows = all_documents(base, auth)
            return rows if all(rows[i]["status"] in ("ready", "failed") for i in ids.values()) else None

        by_id = wait_for(everything_settled, timeout=budget, interval=2, what="every corpus PDF to settle", log=log)
        rows = {name: by_id[document_id] for name, document_id in ids.items()}
        ingest_seconds = time.monotonic() - began

        problems = []
        for entry in entries:
            name = entry["file"]
            if name in refused or entry["expect"] == "refused":
                if entry["expect"] != "refused" or name not in refused:
                    problems.append(f"{name}: {'refused: ' + refused[name] if name in refused else 'accepted'} (expected {entry['expect']})")
                elif entry["reason"] not in refused[name]:
                    problems.append(f"{name}: refused with {refused[name]!r}, expected a reason with {entry['reason']!r}")
                continue
            row = rows[name]
            if row["status"] != entry["expect"]:
                problems.append(f"{name}: {row['status']} (expected {entry['expect']}): {row['error'] or 'no error'}")
                continue
            if row["page_count"] != entry["page_count"] or row["chunk_count"] <= 0:
                problems.append(f"{name}: {row['page_count']} pages, {row['chunk_count']} chunks")
            pages = set(Chunk.objects.filter(document_id=row["id"]).values_list("page", flat=True))
            stored = Chunk.objects.filter(document_id=row["id"]).count()
            if stored != row["chunk_count"] or not pages <= set(range(1, entry["page_count"] + 1)):
                problems.append(f"{name}: {stored} chunks stored for {row['chunk_count']}, on pages {sorted(pages)[:5]}...")
            for field in ("failed_pages", "empty_pages"):
                if field in entry and row[field] != entry[field]:
                    problems.append(f"{name}: {field} {row[field]}, expected {entry[field]}")
        assert not problems, "corpus outcomes differ from tests/corpus/manifest.toml:\n" + "\n".join(problems)

        ready = [entry for entry in entries if entry["expect"] == "ready"]
        expected_chunks = sum(rows[entry["file"]]["chunk_count"] for entry in ready)

        last_state = {}

        def index_holds_everything():
            last_state.update(httpx.get(f"{base}/api/search/status/", auth=auth, timeout=30).json())
            state = last_state
            done = not state["rebuild_requested"] and state["building_since"] is None
            return dict(state) if done and state["chunk_count"] == expected_chunks and state["loaded_version"] == state["index_version"] else None

        try:
            state = wait_for(
                index_holds_everything, timeout=600, interval=2, log=log,
                what=f"the index to hold the {expected_chunks} chunks of the ready documents",
            )
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nlast search status: {last_state}") from None
        assert not state["last_error"] and not state["index_error"], state

        # Each question must find its document within top_k (5, or the manifest's top_k where today's
        # ranking needs more), on one of the pages that hold the answer.
        found_at, misses = {}, []
        for entry in ready:
            top_k = entry.get("top_k", 5)
            results = search(base, auth, entry["question"], top_k)
            hits = [(rank, r["page"]) for rank, r in enumerate(results, 1) if r["document_id"] == ids[entry["file"]]]
            on_page = [(rank, page) for rank, page in hits if page in entry["pages"]]
            if on_page:
                found_at[entry["file"]] = f"rank {on_page[0][0]}, page {on_page[0][1]} (top_k {top_k})"
            else:
                misses.append(
                    f"{entry['file']}: {entry['question']!r} gave {[(r['original_filename'], r['page']) for r in results]}; "
                    f"expected pages {entry['pages']}"
                )

    table = markdown_table(entries, rows, refused, found_at)
    summary = (
        f"\n{len(entries)} PDFs, {len(ready)} ready, {len(refused)} refused at upload as expected; "
        f"{expected_chunks} chunks; ingest {ingest_seconds:.0f} s, whole test {time.monotonic() - began:.0f} s\n"
    )
    ARTIFACT.parent.mkdir(exist_ok=True)
    ARTIFACT.write_text("# Real-PDF corpus\n\n" + table + summary)
    print("\n" + table + summary)
    assert not misses, "questions that did not find their page:\n" + "\n".join(misses)
