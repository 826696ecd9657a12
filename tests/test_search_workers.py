"""Rebuilds by real `celery worker` processes on the production path (PostgreSQL + Redis): several
workers racing for the same rebuild build it once, and this process, serving queries, follows the
version they publish without a restart."""

import os

import pytest

from documents.models import SearchIndexState
from documents.search.selectors import chunk_search
from documents.search.services import index_rebuild_request
from documents.search.tasks import index_rebuild_task
from tests.processes import (
    process_env,
    require_production_services,
    running,
    wait_for,
    worker_args,
)
from tests.search_corpus import add_document, add_manuals, search_options

REDIS_URL = os.environ.get("RAGSITE_TEST_SEARCH_REDIS_URL", "redis://127.0.0.1:6379/14")


@pytest.fixture
def broker(settings):
    require_production_services(REDIS_URL)
    from ragsite.celery import app

    # This process sends the tasks: point the Celery app at Redis, with fresh connection pools.
    previous = app.conf.broker_url, app.conf.broker_transport_options, app.conf.task_always_eager
    app.conf.broker_url, app.conf.broker_transport_options, app.conf.task_always_eager = REDIS_URL, {}, False
    pools = app._pool, app.amqp._producer_pool
    app._pool = app.amqp._producer_pool = None
    yield REDIS_URL
    # kombu keeps producer pools in a registry of its own, keyed by connection: closing only
    # the app's pool leaves the next test a producer pool over a closed one.
    from kombu import pools as kombu_pools

    kombu_pools.reset()
    app.conf.broker_url, app.conf.broker_transport_options, app.conf.task_always_eager = previous
    app._pool, app.amqp._producer_pool = pools


def _settled():
    state = SearchIndexState.objects.filter(pk=1).first()
    return state if state and state.current_version and not state.rebuild_requested and not state.building_since else None


@pytest.mark.production
@pytest.mark.django_db(transaction=True)
def test_workers_racing_for_one_rebuild_build_it_once_and_this_process_follows(tmp_path, broker, settings):
    search_options(settings, version_check_seconds=0)
    settings.RAGSITE_RERANKER = {"BACKEND": "documents.search.rerank.DisabledReranker", "OPTIONS": {}}
    add_manuals()
    env = process_env(tmp_path, CELERY_BROKER_URL=broker)  # same database and index folder as this process
    log = tmp_path / "workers.log"
    with running(worker_args("--concurrency=1", "-n", "one@%h"), env, log), running(
        worker_args("--concurrency=1", "-n", "two@%h"), env, log
    ):
        index_rebuild_request()  # one request, one message...
        for _ in range(5):
            index_rebuild_task.delay()  # ...and five more deliveries (sweeps, redeliveries) racing for it
        state = wait_for(_settled, timeout=120, what="the rebuild", log=log)
        assert state.last_version == 1 and state.chunk_count == 6
        assert chunk_search(query="tomatoes sunlight", top_k=1).index_version == 1

        add_document("Comet Atlas", ["a field guide to comets and their tails"])
        index_rebuild_request()
        wait_for(lambda: (s := _settled()) and s.current_version == 2, timeout=120, what="the second rebuild", log=log)
        best = chunk_search(query="comets and their tails", top_k=1)
        assert best.index_version == 2 and best.results[0].title == "Comet Atlas"
    assert SearchIndexState.objects.get(pk=1).last_version == 2


@pytest.mark.production
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_while_building_leaves_the_build_to_a_live_worker_within_seconds(tmp_path, broker, settings):
    """The builder's claim has a heartbeat: once it stops, a live worker's sweep takes the build
    over within a minute (before, the dead builder's claim blocked every rebuild for ten minutes)."""
    import signal
    import time

    import numpy as np

    from documents.models import Chunk, Document
    from tests.processes import stop

    search_options(settings, version_check_seconds=0)
    settings.RAGSITE_RERANKER = {"BACKEND": "documents.search.rerank.DisabledReranker", "OPTIONS": {}}
    # A corpus big enough that a build takes a few seconds: 20,000 passages with random vectors.
    big = add_document("Big log", ["first entry of a long maintenance log"])
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(20000, 384)).astype("<f4")
    Chunk.objects.bulk_create(
        (
            Chunk(
                document=big, generation=1, ordinal=i + 1, page=1, text=f"maintenance entry {i} pump {i % 97} checked",
                char_start=0, char_end=10, token_count=6, embedding=vectors[i].tobytes(), embedding_model=big.embedding_model,
            )
            for i in range(20000)
        ),
        batch_size=2000,
    )
    Document.objects.filter(pk=big.pk).update(chunk_count=20001)
    # The stale limit and the sweep are the defaults: the take-over is timed as in production.
    env = process_env(tmp_path, CELERY_BROKER_URL=broker)
    log = tmp_path / "workers.log"
    with running(worker_args("--concurrency=1", "-n", "doomed@%h"), env, log) as doomed:
        index_rebuild_request()
        wait_for(
            lambda: SearchIndexState.objects.filter(pk=1, building_since__isnull=False).exists(), timeout=120,
            interval=0.05, what="the build to start", log=log,
        )
        stop(doomed, sig=signal.SIGKILL)
    killed_at = time.monotonic()
    state = SearchIndexState.objects.get(pk=1)
    assert state.building_since is not None and state.current_version is None  # the dead builder's claim

    beat = ("--beat", f"--schedule={tmp_path / 'beat-schedule'}")
    with running(worker_args("--concurrency=1", "-n", "alive@%h", *beat), env, log):
        state = wait_for(_settled, timeout=120, what="a live worker to take the build over", log=log)
    assert state.chunk_count == 20001 and state.builder == ""
    assert time.monotonic() - killed_at < 60
    found = chunk_search(query="maintenance entry 12345", top_k=5).results
    assert any(result.text.startswith("maintenance entry 12345 ") for result in found)
