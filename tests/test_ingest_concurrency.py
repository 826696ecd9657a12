"""Two runs of one document, re-ingests asked for mid-run, runs taken over, and the sweeps: each
run's writes are fenced by its claim, so the row and the chunks always agree. (Real worker
processes racing on PostgreSQL: tests/test_worker_e2e.py.)"""

import io
from datetime import timedelta

import pytest
from django.utils import timezone

from documents import ingest, tasks
from documents.models import Chunk, Document, SearchIndexState
from documents.search import rebuild
from documents.search.selectors import chunk_search
from documents.search.services import index_rebuild_request
from documents.ingest import document_ingest
from documents.services import document_create, document_reingest
from documents.tasks import document_run, documents_requeue_stale
from tests import pdfs
from tests.search_corpus import search_options

pytestmark = [pytest.mark.django_db, pytest.mark.embedded]

PAGES = [f"Section {n}. The pump on deck {n} moves {n * 10} litres a minute. Check its seal every {n} days." for n in range(1, 7)]
LONG_AGO = timezone.now() - timedelta(days=1)


@pytest.fixture(autouse=True)
def _small_batches(settings):
    settings.RAGSITE_INGEST_PAGE_BATCH = 1  # progress (and a fenced write) after every page
    settings.RAGSITE_EMBED_BATCH_CHUNKS = 1
    search_options(settings, version_check_seconds=0)
    settings.RAGSITE_RERANKER = {"BACKEND": "documents.search.rerank.DisabledReranker", "OPTIONS": {}}


def upload(pages=PAGES, name="pumps.pdf") -> Document:
    return document_create(file=io.BytesIO(pdfs.text_pdf(pages)), filename=name, enqueue=False)


def consistent(document: Document) -> None:
    """The row says what the chunks are: one generation, its count, every page once in order."""
    document.refresh_from_db()
    current = Chunk.objects.filter(document=document, generation=document.generation)
    assert Chunk.objects.filter(document=document).count() == current.count() == document.chunk_count > 0
    assert list(current.order_by("ordinal").values_list("ordinal", flat=True)) == list(range(document.chunk_count))
    assert set(current.values_list("page", flat=True)) == set(range(1, len(PAGES) + 1))


def take_over(document_id: int) -> ingest._Run:
    """What a second worker does when the first one's heartbeat looks dead."""
    Document.objects.filter(pk=document_id).update(heartbeat_at=LONG_AGO)
    run = ingest._claim(document_id, force=False)
    assert run is not None
    return run


def test_a_run_that_was_taken_over_stops_and_leaves_nothing_behind():
    document = upload()
    taken = []

    def progress(done, total):
        if done == 2 and not taken:
            taken.append(take_over(document.pk))

    outcome = document_ingest(document_id=document.pk, progress=progress, rebuild_index=False)

    assert outcome.status == "superseded"
    row = Document.objects.get(pk=document.pk)
    assert row.ingest_token == taken[0].token and row.status == "processing"
    assert row.pages_done == 0 and row.generation == 0  # the first run wrote nothing after losing its claim
    assert not Chunk.objects.filter(document=document).exists()  # its half generation is gone

    # The run that took over (here: its worker died too) is taken again and finishes properly.
    Document.objects.filter(pk=document.pk).update(heartbeat_at=LONG_AGO)
    assert document_ingest(document_id=document.pk, rebuild_index=False).status == "ready"
    consistent(document)
    assert row.last_generation + 1 == Document.objects.get(pk=document.pk).generation


def test_a_run_taken_over_at_its_last_step_does_not_swap_in(monkeypatch):
    document = upload()
    real_lock = ingest._lock

    def lock(run):
        take_over(document.pk)  # between the last page and the swap
        return real_lock(run)

    monkeypatch.setattr(ingest, "_lock", lock)
    assert document_ingest(document_id=document.pk, rebuild_index=False).status == "superseded"
    document.refresh_from_db()
    assert document.generation == 0 and document.chunk_count == 0 and document.status == "processing"
    assert not Chunk.objects.filter(document=document).exists()


def test_reingests_asked_for_during_a_run_make_exactly_one_more_run(eager_celery, django_capture_on_commit_callbacks):
    document = upload()
    asked = []

    def progress(done, total):
        if done == 3 and not asked:
            asked.append(True)
            document_reingest(document=document)
            document_reingest(document=document)  # a second click: still one more run
            row = Document.objects.get(pk=document.pk)
            assert row.status == "processing" and row.reingest_requested

    with django_capture_on_commit_callbacks(execute=True):
        document_run(document_id=document.pk, progress=progress, rebuild_index=False)

    document.refresh_from_db()
    assert document.status == "ready" and not document.reingest_requested
    assert document.last_generation == document.generation == 2  # the first run, then exactly one more
    consistent(document)


def test_a_failed_reingest_keeps_the_previous_version_searchable():
    document = upload()
    document_ingest(document_id=document.pk)
    document.refresh_from_db()
    before = (document.generation, document.chunk_count)
    # The stored file gets damaged (a bad disk, a partial restore), then someone re-ingests.
    with open(document.file.path, "r+b") as handle:
        handle.truncate(400)

    outcome = document_ingest(document_id=document.pk, force=True)

    document.refresh_from_db()
    assert outcome.status == document.status == "ready"
    assert document.error.startswith(f"re-ingest failed, the previous version ({before[1]} passages) is still searchable")
    assert "damaged or truncated" in document.error
    assert (document.generation, document.chunk_count) == before
    consistent(document)
    index_rebuild_request(in_process=True)
    assert [r.document_id for r in chunk_search(query="pump seal on deck 4", top_k=1).results] == [document.pk]


def test_the_sweep_resends_lost_messages_but_not_a_backlog_workers_are_getting_through(monkeypatch):
    sent = []
    monkeypatch.setattr(tasks, "document_send", lambda document_id: sent.append(document_id) or True)
    never_sent = upload(name="a.pdf")  # queued while the broker was down: enqueued_at is null
    waiting = [upload(PAGES[:n], name=f"backlog-{n}.pdf") for n in (1, 2, 3)]
    Document.objects.filter(pk__in=[d.pk for d in waiting]).update(enqueued_at=LONG_AGO)
    busy = upload(PAGES[:4], name="busy.pdf")
    Document.objects.filter(pk=busy.pk).update(status="processing", heartbeat_at=timezone.now())

    assert documents_requeue_stale() == 1 and sent == [never_sent.pk]

    # No worker shows any life (the one on busy.pdf died): the backlog's messages were lost.
    sent.clear()
    Document.objects.filter(pk=busy.pk).update(heartbeat_at=LONG_AGO)
    assert documents_requeue_stale() == 5
    assert set(sent) == {never_sent.pk, busy.pk, *(d.pk for d in waiting)}


def test_a_long_build_with_a_live_heartbeat_is_not_taken_over_but_a_dead_one_is():
    rebuilds = rebuild.Rebuilds(stale_seconds=30)
    rebuild.index_state()
    now = timezone.now()
    SearchIndexState.objects.filter(pk=1).update(
        rebuild_requested=True, building_since=now - timedelta(minutes=20), builder_heartbeat_at=now, builder="alive"
    )
    assert not rebuild._claim("second", rebuilds)

    SearchIndexState.objects.filter(pk=1).update(builder_heartbeat_at=now - timedelta(seconds=31))
    assert rebuild._claim("second", rebuilds)
    assert SearchIndexState.objects.get(pk=1).builder == "second"


@pytest.mark.django_db(transaction=True)  # the delete commits, as it does when staff delete from the admin
def test_a_document_deleted_while_it_is_ingested_says_so_and_leaves_nothing(caplog):
    """Issue 37: such a run logged 'failed unexpectedly' with a traceback, then 'taken over by
    another one'."""
    from documents.services import document_delete

    document = upload()
    deleted = []

    def progress(done, total):
        if done == 2 and not deleted:
            document_delete(document=Document.objects.get(pk=document.pk))
            deleted.append(done)

    with caplog.at_level("INFO", logger="documents"):
        outcome = document_ingest(document_id=document.pk, progress=progress, rebuild_index=False)

    assert (outcome.status, outcome.unexpected) == ("deleted", False)
    assert outcome.detail == "deleted while it was being ingested"
    assert not Document.objects.filter(pk=document.pk).exists()
    assert not Chunk.objects.filter(document_id=document.pk).exists()
    messages = [(record.levelname, record.getMessage()) for record in caplog.records]
    assert not [message for message in messages if message[0] in ("ERROR", "CRITICAL")], messages
    assert not [message for message in messages if "taken over" in message[1] or "failed" in message[1]], messages
    assert ("INFO", f"document {document.pk} was deleted while it was being ingested; its run stops") in messages
