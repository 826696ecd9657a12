"""End to end: uploads through the HTTP API of a real ASGI server process, processed by a real
`celery worker` process, on the production path (PostgreSQL + Redis) and on the embedded
default (a broker kept as files, no server)."""

import os
import shutil
import signal
import time

import httpx
import pytest

from documents.models import Chunk, Document
from tests import pdfs
from tests.processes import (
    RedisServer,
    free_port,
    process_env,
    require_production_services,
    running,
    staff_api_key,
    stop,
    sweeps_every,
    wait_for,
    wait_http,
    web_args,
    worker_args,
)

REDIS_URL = os.environ.get("RAGSITE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def production_services():
    """PostgreSQL and Redis must be there; in CI their absence fails the run instead of skipping it."""
    return require_production_services(REDIS_URL)


@pytest.fixture
def staff_auth(django_user_model):
    return staff_api_key(django_user_model, "e2e-staff")


def upload(base: str, auth, name: str, data: bytes) -> dict:
    response = httpx.post(f"{base}/api/documents/", auth=auth, files={"file": (name, data, "application/pdf")}, timeout=30)
    assert response.status_code == 201, response.text
    return response.json()


def status_of(base: str, auth, document_id: int) -> dict:
    return httpx.get(f"{base}/api/documents/{document_id}/", auth=auth, timeout=10).json()


def settled(base, auth, document_id):
    body = status_of(base, auth, document_id)
    return body if body["status"] in ("ready", "failed") else None


GUIDE = ["The Aurora kettle boils one litre in 95 seconds. It switches off by itself when dry."] * 3


def exercise_upload_path(base: str, auth, log) -> None:
    """What a staff user does: upload a good PDF and a broken one, see both settle, then one more."""
    good = upload(base, auth, "kettle.pdf", pdfs.text_pdf(GUIDE))
    broken = upload(base, auth, "broken.pdf", pdfs.pdf_with_broken_pages(GUIDE, [1, 2, 3]))
    assert good["status"] == "queued"  # the request returned before any embedding
    # A file pypdf cannot even count the pages of is refused at once; nothing reaches the worker.
    refused = httpx.post(f"{base}/api/documents/", auth=auth, files={"file": ("cut.pdf", pdfs.truncated_pdf(GUIDE), "application/pdf")}, timeout=30)
    assert refused.status_code == 400 and "cut.pdf is damaged or truncated" in refused.json()["file"][0]

    good = wait_for(lambda: settled(base, auth, good["id"]), timeout=120, what="kettle.pdf to be processed", log=log)
    broken = wait_for(lambda: settled(base, auth, broken["id"]), timeout=60, what="broken.pdf to be processed", log=log)
    assert good["status"] == "ready" and good["chunk_count"] > 0 and good["page_count"] == 3
    assert broken["status"] == "failed" and "no page could be read" in broken["error"]

    # The worker survived the broken file and goes on working.
    after = upload(base, auth, "after.pdf", pdfs.text_pdf(["A document uploaded after a failure is still processed."]))
    after = wait_for(lambda: settled(base, auth, after["id"]), timeout=60, what="after.pdf", log=log)
    assert after["status"] == "ready"


@pytest.mark.production
@pytest.mark.django_db(transaction=True)
def test_production_path_postgres_redis_and_a_real_worker(tmp_path, production_services, staff_auth):
    env = process_env(tmp_path, CELERY_BROKER_URL=production_services)
    port = free_port()
    log = tmp_path / "processes.log"
    with running(worker_args("--concurrency=1"), env, log), running(web_args(port), env, log):
        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/api/schema/", log=log)
        exercise_upload_path(base, staff_auth, log)


@pytest.mark.production
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_ingest_leaves_the_document_to_the_next_worker_within_a_minute(tmp_path, production_services, staff_auth):
    # One page a batch: the heartbeat moves page by page, and the kill lands mid-document. The
    # stale limit and the sweep are the defaults: the take-over is timed as in production.
    env = process_env(tmp_path, CELERY_BROKER_URL=production_services,
                      settings={"RAGSITE_INGEST_PAGE_BATCH": 1, "RAGSITE_EMBED_BATCH_CHUNKS": 1})
    port = free_port()
    log = tmp_path / "processes.log"
    long_manual = [f"Section {n}. " + "The pump must be primed before the first start. " * 15 for n in range(30)]
    with running(web_args(port), env, log):
        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/api/schema/", log=log)
        with running(worker_args("--concurrency=1"), env, log) as worker:
            document = upload(base, staff_auth, "pump-manual.pdf", pdfs.text_pdf(long_manual))
            wait_for(
                lambda: status_of(base, staff_auth, document["id"])["pages_done"] >= 2, timeout=90,
                what="the first pages to be done", log=log,
            )
            stop(worker, sig=signal.SIGKILL)
        killed_at = time.monotonic()
        row = Document.objects.get(pk=document["id"])
        assert row.status == "processing" and row.pages_done < 30  # what a dead worker leaves behind
        dead_run = row.ingest_token

        # A live worker's periodic sweep finds it once its heartbeat is stale, and finishes it
        # (the broker itself would redeliver the unacknowledged message only after an hour).
        beat = ("--beat", f"--schedule={tmp_path / 'beat-schedule'}")
        with running(worker_args("--concurrency=1", *beat), env, log):
            wait_for(
                lambda: Document.objects.filter(pk=document["id"]).exclude(ingest_token=dead_run).exists(),
                timeout=90, what="a live worker to take the document over", log=log,
            )
            taken_over_after = time.monotonic() - killed_at
            done = wait_for(lambda: settled(base, staff_auth, document["id"]), timeout=180, what="re-ingest", log=log)
        assert taken_over_after < 60, f"taken over after {taken_over_after:.0f} s"
        assert done["status"] == "ready" and done["pages_done"] == 30
        row.refresh_from_db()
        assert row.chunks.count() == row.chunk_count > 0


@pytest.mark.embedded
@pytest.mark.django_db(transaction=True)
def test_embedded_default_needs_no_broker_server(tmp_path, staff_auth):
    """The newcomer's setup: the queue is a folder, the worker a real `celery worker` process."""
    env = process_env(tmp_path, CELERY_BROKER_URL="filesystem://")
    port = free_port()
    log = tmp_path / "processes.log"
    with running(worker_args("--pool=solo", "--beat", f"--schedule={tmp_path / 'beat-schedule'}"), env, log), running(
        web_args(port), env, log
    ):
        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/api/schema/", log=log)
        exercise_upload_path(base, staff_auth, log)
    assert (tmp_path / "var" / "broker" / "queue").is_dir()


@pytest.mark.embedded
@pytest.mark.django_db(transaction=True)
def test_a_worker_at_idle_cpu_priority_runs_every_thread_so_and_still_ingests(tmp_path, staff_auth):
    """RAGSITE_WORKER_CPU_PRIORITY=idle: every thread of the worker, torch's included, is in
    Linux's SCHED_IDLE class (it gets only the CPU time the web processes leave), and documents
    are still ingested."""
    if not hasattr(os, "SCHED_IDLE"):
        pytest.skip("this system has no SCHED_IDLE")
    env = process_env(tmp_path, CELERY_BROKER_URL="filesystem://", RAGSITE_WORKER_CPU_PRIORITY="idle")
    port = free_port()
    log = tmp_path / "processes.log"
    with running(worker_args("--pool=solo"), env, log) as worker, running(web_args(port), env, log):
        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/api/schema/", log=log)
        exercise_upload_path(base, staff_auth, log)  # the worker embedded a document meanwhile
        threads = [int(tid) for tid in os.listdir(f"/proc/{worker.pid}/task")]
        assert len(threads) > 1  # torch's and celery's threads, started before and after the setting
        assert {os.sched_getscheduler(tid) for tid in threads} == {os.SCHED_IDLE}
    assert os.sched_getscheduler(0) == os.SCHED_OTHER  # the test's own process is untouched


def test_a_worker_told_to_use_one_torch_thread_embeds_with_one(settings, monkeypatch):
    """RAGSITE_WORKER_TORCH_THREADS=1: what a worker does as it starts (celery's worker_init)
    leaves torch one thread, so the web processes on the machine keep a core, and nothing changes
    it later; 0 looks before each forward pass at the cores the others leave idle
    (tests/test_cpu_share.py)."""
    import torch
    from celery.signals import worker_init

    from documents import embedding
    from documents.tasks import worker_cpu_share

    assert worker_cpu_share in [ref() for _, ref in worker_init.receivers]  # runs as a worker starts

    monkeypatch.setattr(embedding, "_before_forward", None)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)  # as on a 2-core machine, whatever this one has
        settings.RAGSITE_WORKER_CPU_PRIORITY = "normal"  # this test process keeps its priority
        settings.RAGSITE_WORKER_TORCH_THREADS = 0
        worker_cpu_share()
        assert embedding._before_forward is not None
        settings.RAGSITE_WORKER_TORCH_THREADS = 1
        worker_cpu_share()
        assert torch.get_num_threads() == 1 and embedding._before_forward is None
    finally:
        torch.set_num_threads(before)


@pytest.mark.production
@pytest.mark.django_db(transaction=True)
def test_an_upload_while_the_broker_is_down_is_kept_and_picked_up_once_it_is_back(tmp_path, production_services, staff_auth):
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed: this test stops a Redis of its own")
    broker = RedisServer(tmp_path / "redis")
    broker.start()
    port = free_port()
    log = tmp_path / "processes.log"
    env = process_env(tmp_path, CELERY_BROKER_URL=broker.url)
    try:
        with running(web_args(port), env, log):
            base = f"http://127.0.0.1:{port}"
            wait_http(base + "/api/schema/", log=log)
            broker.stop()  # Redis goes down under the running web process
            document = upload(base, staff_auth, "kettle.pdf", pdfs.text_pdf(GUIDE))
            assert status_of(base, staff_auth, document["id"])["status"] == "queued"
            row = Document.objects.get(pk=document["id"])
            assert row.enqueued_at is None  # it never reached a broker, and the upload did not fail

            # The broker is back: the web process sends again, and a worker starting up sends
            # what was left waiting, and processes both.
            broker.start()
            later = upload(base, staff_auth, "later.pdf", pdfs.text_pdf(["Uploaded once the broker was back."]))
            assert Document.objects.get(pk=later["id"]).enqueued_at is not None
            with running(worker_args("--concurrency=1"), env, log):
                done = wait_for(lambda: settled(base, staff_auth, document["id"]), timeout=120, what="the sweep", log=log)
                assert wait_for(lambda: settled(base, staff_auth, later["id"]), timeout=60, what="later.pdf", log=log)["status"] == "ready"
    finally:
        broker.stop()
    assert done["status"] == "ready"


@pytest.mark.production
@pytest.mark.django_db(transaction=True)
def test_two_workers_and_repeated_reingests_of_one_document_end_consistent(tmp_path, production_services, staff_auth):
    """Two worker processes, a beat sweeping every second and a stale limit of 3 s, while the
    document's pages are read in one long batch: before runs were fenced and kept alive by a
    heartbeat, this ran two ingests at once and left the row and its chunks disagreeing."""
    env = process_env(
        tmp_path, CELERY_BROKER_URL=production_services, settings={
            "RAGSITE_STALE_AFTER_SECONDS": 3, "CELERY_BEAT_SCHEDULE": sweeps_every(1),
            "RAGSITE_INGEST_PAGE_BATCH": 40, "RAGSITE_EMBED_BATCH_CHUNKS": 10000,  # one long step: no progress for seconds
        },
    )
    port = free_port()
    log = tmp_path / "processes.log"
    pages = [f"Chapter {n}. " + f"The valve on line {n} is closed before the pump on line {n} starts. " * 12 for n in range(1, 41)]
    beat = ("--beat", f"--schedule={tmp_path / 'beat-schedule'}")
    with running(web_args(port), env, log), running(worker_args("--concurrency=1", "-n", "one@%h", *beat), env, log), running(
        worker_args("--concurrency=1", "-n", "two@%h"), env, log
    ):
        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/api/schema/", log=log)
        document = upload(base, staff_auth, "valves.pdf", pdfs.text_pdf(pages))
        first = wait_for(lambda: settled(base, staff_auth, document["id"]), timeout=240, what="the first ingest", log=log)
        assert first["status"] == "ready"

        # Two re-ingests 1 s apart, the second while the first one's run is processing.
        for _ in range(2):
            response = httpx.post(f"{base}/api/documents/{document['id']}/reingest/", auth=staff_auth, timeout=10)
            assert response.status_code == 202
            wait_for(
                lambda: Document.objects.filter(pk=document["id"], status="processing").exists(), timeout=60,
                what="the re-ingest to start", log=log,
            )
            time.sleep(1)

        def all_done():
            row = Document.objects.get(pk=document["id"])
            return row if row.status == "ready" and not row.ingest_token and not row.reingest_requested else None

        row = wait_for(all_done, timeout=300, what="the re-ingests to finish", log=log)
        time.sleep(4)  # a sweep or a late delivery would start one more run by now
        row.refresh_from_db()
        assert row.status == "ready" and row.error == ""
        # The first ingest, the re-ingest, and the one asked for during it: exactly three runs.
        assert row.last_generation == row.generation == 3
        current = Chunk.objects.filter(document=row, generation=row.generation)
        assert Chunk.objects.filter(document=row).count() == current.count() == row.chunk_count > 0
        assert set(current.values_list("page", flat=True)) == set(range(1, 41))
        assert sorted(current.values_list("ordinal", flat=True)) == list(range(row.chunk_count))
    assert "taken over" not in log.read_text()  # a live run was never mistaken for a dead one
