"""Rebuilds by real `celery worker` processes on the production path (PostgreSQL + Redis): several
workers racing for the same rebuild build it once, and this process, serving queries, follows the
version they publish without a restart."""

import os

import pytest

from documents.models import SearchIndexState
from documents.search import chunk_search, index_rebuild_request
from documents.tasks import index_rebuild_task
from tests.processes import process_env, require_production_services, running, wait_for, worker_args
from tests.search_corpus import add_document, add_manuals

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
    if app._pool is not None:
        app._pool.force_close_all()
    app.conf.broker_url, app.conf.broker_transport_options, app.conf.task_always_eager = previous
    app._pool, app.amqp._producer_pool = pools


def _settled():
    state = SearchIndexState.objects.filter(pk=1).first()
    return state if state and state.current_version and not state.rebuild_requested and not state.building_since else None


@pytest.mark.production
@pytest.mark.django_db(transaction=True)
def test_workers_racing_for_one_rebuild_build_it_once_and_this_process_follows(tmp_path, broker, settings):
    settings.RAGSITE_SEARCH_VERSION_CHECK_SECONDS = 0
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
