"""Celery tasks, thin wrappers around documents.ingest, and the one place that sends documents
to the worker."""

import logging

from celery import shared_task
from celery.signals import worker_init, worker_ready
from django.conf import settings
from django.utils import timezone

from documents import ingest, selectors
from documents.cpu_share import cpu_priority
from documents.embedding import worker_torch_threads
from documents.models import Document

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def document_ingest_task(document_id: int) -> str:
    return document_run(document_id=document_id).status


def document_run(*, document_id: int, **options) -> ingest.IngestOutcome:
    """Ingest a document as the worker does (documents.ingest.document_ingest, with its
    options), and send it once more when a re-ingest was asked for while it ran."""
    outcome = ingest.document_ingest(document_id=document_id, **options)
    if outcome.requeue:
        document_send(document_id)
    return outcome


@shared_task
def documents_requeue_stale_task() -> int:
    return documents_requeue_stale()


def document_send(document_id: int) -> bool:
    """Hand the document to the broker; False (and the document stays queued for the sweep)
    when the broker cannot be reached."""
    try:
        document_ingest_task.delay(document_id)
    except Exception as exc:  # kombu raises OperationalError and friends
        logger.warning("could not reach the broker for document %s; the sweep will retry: %s", document_id, exc)
        return False
    Document.objects.filter(pk=document_id).update(enqueued_at=timezone.now())
    return True


def documents_requeue_stale() -> int:
    """Send again the documents no worker is on (selectors.documents_no_worker_is_on); returns
    how many were sent."""
    sent = [document_id for document_id in selectors.documents_no_worker_is_on() if document_send(document_id)]
    if sent:
        logger.info("requeued %s document(s) no worker was on: %s", len(sent), sent)
    return len(sent)


@worker_ready.connect
def _requeue_on_worker_start(**_):
    # Whatever was uploaded while no broker or worker was running is picked up at start-up;
    # the beat schedule (CELERY_BEAT_SCHEDULE) repeats this while the worker runs.
    documents_requeue_stale_task.delay()


@worker_init.connect
def worker_cpu_share(**_):
    """The worker's share of the machine: its CPU priority and torch's threads
    (RAGSITE_WORKER_CPU_PRIORITY, RAGSITE_WORKER_TORCH_THREADS)."""
    cpu_priority(settings.RAGSITE_WORKER_CPU_PRIORITY)
    worker_torch_threads(settings.RAGSITE_WORKER_TORCH_THREADS)
