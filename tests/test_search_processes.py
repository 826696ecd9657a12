"""Searches in processes of their own (documents.search.processes, settings.RAGSITE_SEARCH_PROCESSES):
the same answers as a search in the asking process, from a child that has the asker's settings, and
a web server that survives its search process being killed."""

import os
import signal
from pathlib import Path

import httpx
import pytest
from django.core.files.base import ContentFile

from documents.search.errors import SearchError
from documents.search.processes import (
    chunk_search_isolated, search_processes_start, search_processes_stop, search_status_isolated,
)
from documents.search.selectors import chunk_search
from documents.search.services import index_rebuild_request
from documents.ingest import document_ingest
from documents.services import document_create
from tests.pdfs import text_pdf
from tests.processes import free_port, process_env, running, staff_api_key, wait_for, wait_http, web_args
from tests.search_corpus import search_options

# Transactional: a search process reads the test database over its own connection.
pytestmark = pytest.mark.django_db(transaction=True)

PAGES = [
    "Pump P-7 manual. Prime the pump with one litre of water before the first start.",
    "Warranty. The warranty period of the P-7 pump is three years from the date of purchase.",
    "Faults. A blinking amber light means the inlet filter is blocked; clean it under running water.",
]


@pytest.fixture
def pump(settings):
    search_options(settings, version_check_seconds=0)
    settings.RAGSITE_RERANKER = {"BACKEND": "documents.search.rerank.DisabledReranker", "OPTIONS": {}}
    document = document_create(file=ContentFile(text_pdf(PAGES), name="pump.pdf"), title="Pump P-7", enqueue=False)
    assert document_ingest(document_id=document.pk, rebuild_index=False).status == "ready"
    index_rebuild_request(in_process=True)
    return document


@pytest.fixture
def search_processes(settings):
    settings.RAGSITE_SEARCH_PROCESSES = 1
    yield
    search_processes_stop()


def test_a_search_process_answers_as_this_process_would_with_this_tests_settings(pump, search_processes):
    # The index lives under this test's own folder (conftest): the child searches it because it
    # took this process's settings, not the settings module's.
    pids = search_processes_start()
    assert len(pids) == 1 and pids[0] != os.getpid()
    for query in ["how long is the warranty", "blinking amber light", "prime"]:
        here = chunk_search(query=query, top_k=3)
        there = chunk_search_isolated(query=query, top_k=3)
        assert [(r.chunk_id, r.page, r.document_id) for r in there.results] == [(r.chunk_id, r.page, r.document_id) for r in here.results]
        assert [r.score for r in there.results] == pytest.approx([r.score for r in here.results], abs=1e-5)
        assert there.index_version == here.index_version
    assert chunk_search_isolated(query="how long is the warranty", top_k=1).results[0].page == 2
    assert search_status_isolated()["loaded_version"] == search_status_isolated()["index_version"] is not None


def test_a_killed_search_process_fails_only_the_question_it_held_and_is_replaced(pump, search_processes):
    (pid,) = search_processes_start()
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(SearchError, match="ask again"):
        chunk_search_isolated(query="warranty", top_k=1)
    found = chunk_search_isolated(query="warranty", top_k=1)
    assert found.results and found.results[0].page == 2
    assert search_processes_start() != [pid]


def search_children(server_pid: int) -> list[int]:
    """The server's search processes (multiprocessing's spawned children, not its resource tracker)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            # /proc/PID/stat: "pid (name) state ppid ..."; the name may hold spaces, not ")".
            parent = int(entry.joinpath("stat").read_text().rsplit(")", 1)[1].split()[1])
            if parent == server_pid and b"spawn_main" in entry.joinpath("cmdline").read_bytes():
                found.append(int(entry.name))
        except (OSError, ValueError, IndexError):  # not a process, or one that just ended
            continue
    return sorted(found)


def test_a_web_server_searches_in_its_own_processes_and_a_killed_one_costs_one_503(tmp_path, pump, django_user_model):
    auth = staff_api_key(django_user_model, "searcher")
    env = process_env(tmp_path, RAGSITE_SEARCH_PROCESSES=2, RAGSITE_RERANKER_MODEL="off", settings={
        "RAGSITE_SEARCH_BACKEND": {"BACKEND": "documents.search.embedded.EmbeddedIndexBackend",
                                   "OPTIONS": {"version_check_seconds": 0}}})
    port = free_port()
    log = tmp_path / "server.log"
    with running(web_args(port), env, log) as server:
        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/api/schema/", log=log)
        # Started and warmed before the first question (ragsite/asgi.py).
        children = search_children(server.pid)
        assert len(children) == 2, log.read_text()[-3000:]

        with httpx.stream("POST", base + "/query/stream", json={"question": "How long is the pump's warranty?"}, timeout=60) as response:
            assert response.status_code == 200
            body = response.read().decode()
        assert '"token"' in body and '"page":2' in body and '"done":true' in body
        status = httpx.get(base + "/api/search/status/", auth=auth, timeout=30).json()
        assert status["loaded_version"] == status["index_version"] is not None

        for pid in children:
            os.kill(pid, signal.SIGKILL)
        refused = httpx.post(base + "/query", json={"question": "How long is the pump's warranty?"}, timeout=60)
        assert refused.status_code == 503 and refused.json()["error"]["code"] == "search_unavailable", refused.text
        assert refused.json()["error"]["retryable"] is True
        answered = httpx.post(base + "/query", json={"question": "How long is the pump's warranty?"}, timeout=60)
        assert answered.status_code == 200 and answered.json()["sources"][0]["page"] == 2, answered.text
        assert server.poll() is None
        wait_for(lambda: search_children(server.pid), timeout=30, what="new search processes", log=log)
        assert not set(search_children(server.pid)) & set(children)
        assert "a search process died while it answered" in log.read_text()
