"""Rebuilds: coalescing across callers, the Celery task, and hot swaps under running queries.

These tests run threads with their own database connections, so they use transactional_db."""

import threading
import time

import pytest
from django.db import connections

from documents.models import SearchIndexState
from documents.search import rebuild
from documents.search.backends import search_backend
from documents.search.selectors import chunk_search
from documents.search.services import index_rebuild_request
from ragsite.celery import app as celery_app
from tests.search_corpus import add_document, add_manuals, search_options

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _search_settings(settings):
    search_options(settings, version_check_seconds=0)
    settings.RAGSITE_RERANKER = {"BACKEND": "documents.search.rerank.DisabledReranker", "OPTIONS": {}}
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True  # tasks sent by index_rebuild_request run in the caller
    yield
    celery_app.conf.task_always_eager = eager


@pytest.fixture
def gated_builds(monkeypatch):
    """Builds that wait at a gate before doing their work; counts the builds that ran."""
    gate, entered = threading.Event(), threading.Event()
    built = []
    real_build = rebuild._build_and_publish

    def build(**options):
        entered.set()
        assert gate.wait(30), "the test never opened the gate"
        version = real_build(**options)
        built.append(version)
        return version

    monkeypatch.setattr(rebuild, "_build_and_publish", build)
    return gate, entered, built


def _in_thread(target, errors):
    def run():
        try:
            target()
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_request_runs_the_rebuild_task_which_builds_once():
    add_manuals()
    index_rebuild_request()  # what an ingest or a delete calls: eager Celery runs the task here

    state = SearchIndexState.objects.get(pk=1)
    assert (state.current_version, state.chunk_count, state.rebuild_requested) == (1, 6, False)
    assert chunk_search(query="tomatoes", top_k=1).index_version == 1


def test_requests_during_a_build_are_coalesced_into_one_more_build(gated_builds):
    gate, entered, built = gated_builds
    add_manuals()
    errors = []
    first = _in_thread(lambda: index_rebuild_request(), errors)
    assert entered.wait(30)
    entered.clear()

    add_document("Late arrival", ["a document uploaded while the index was being built about comets"])
    for _ in range(5):
        index_rebuild_request()  # each one's task finds the claim taken and returns at once
    state = SearchIndexState.objects.get(pk=1)
    assert state.rebuild_requested and state.building_since is not None and built == []

    gate.set()
    first.join(30)
    assert not errors and not first.is_alive()
    assert built == [1, 2]  # the build that was running, then exactly one more
    state = SearchIndexState.objects.get(pk=1)
    assert (state.current_version, state.chunk_count, state.rebuild_requested, state.building_since) == (
        2, 7, False, None,
    )
    assert chunk_search(query="comets", top_k=1).results[0].title == "Late arrival"


def test_an_in_process_rebuild_waits_for_another_builder_and_returns_with_the_index_current(gated_builds):
    gate, entered, built = gated_builds
    add_manuals()
    errors = []
    worker = _in_thread(lambda: index_rebuild_request(), errors)  # a worker's build, in progress
    assert entered.wait(30)

    add_document("Ingested", ["a document ingested by manage.py ingest about nebulae"])
    finished = threading.Event()
    command = _in_thread(lambda: (index_rebuild_request(in_process=True), finished.set()), errors)
    time.sleep(0.5)
    assert not finished.is_set()  # the worker's build started before this document existed

    gate.set()
    for thread in (worker, command):
        thread.join(30)
    assert not errors and finished.is_set() and built == [1, 2]
    assert chunk_search(query="nebulae", top_k=1).results[0].title == "Ingested"


def test_a_claim_left_by_a_dead_builder_is_taken_over(settings):
    add_manuals()
    search_options(settings, rebuild_stale_seconds=60)
    index_rebuild_request(in_process=True)
    from django.utils import timezone

    SearchIndexState.objects.filter(pk=1).update(
        building_since=timezone.now() - timezone.timedelta(seconds=61), builder="dead-host:1:x", rebuild_requested=False
    )
    assert search_backend().rebuild_pending() == 2  # what the periodic task does: the stale claim counts as a request
    state = SearchIndexState.objects.get(pk=1)
    assert (state.current_version, state.building_since, state.builder) == (2, None, "")


def test_no_query_fails_or_goes_back_in_time_while_versions_are_swapped(settings):
    search_options(settings, keep_versions=2)  # old folders are deleted while threads may still use them
    add_manuals()
    index_rebuild_request(in_process=True)
    stop = threading.Event()
    errors, seen = [], [[] for _ in range(3)]

    def query_loop(versions):
        while not stop.is_set():
            response = chunk_search(query="read.table data frame tomatoes", top_k=3)
            assert response.results and response.index_version is not None
            versions.append(response.index_version)

    threads = [_in_thread(lambda v=versions: query_loop(v), errors) for versions in seen]
    for number in range(6):
        add_document(f"Swap {number}", [f"passage number {number} added between two rebuilds"])
        index_rebuild_request(in_process=True)
        time.sleep(0.05)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not errors and not all(v and v[-1] == 7 for v in seen):
        time.sleep(0.05)
    stop.set()
    for thread in threads:
        thread.join(30)

    assert not errors, errors
    assert SearchIndexState.objects.get(pk=1).current_version == 7
    for versions in seen:  # never from an older version than before, and the newest at the end
        assert versions == sorted(versions) and versions[-1] == 7
    assert len({v for versions in seen for v in versions}) >= 3  # the queries did run across swaps
    assert len(list(settings.RAGSITE_INDEX_ROOT.iterdir())) == 2
