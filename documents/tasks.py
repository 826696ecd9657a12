"""Celery tasks: thin wrappers that load by id and call a service."""

from celery import shared_task
from celery.signals import worker_ready

from documents import services


@shared_task(acks_late=True, reject_on_worker_lost=True)
def document_ingest_task(document_id: int) -> str:
    return services.document_ingest(document_id=document_id).status


@shared_task
def documents_requeue_stale_task() -> int:
    return services.documents_requeue_stale()


@worker_ready.connect
def _requeue_on_worker_start(**_):
    # Whatever was uploaded while no broker or worker was running is picked up at start-up;
    # the beat schedule (CELERY_BEAT_SCHEDULE) repeats this while the worker runs.
    documents_requeue_stale_task.delay()

