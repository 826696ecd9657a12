"""The rebuild task: a thin wrapper around the search services."""

from celery import shared_task

from documents.search import services


@shared_task(acks_late=True, reject_on_worker_lost=True)
def index_rebuild_task() -> int | None:
    # Builds only while a rebuild is requested and nobody else builds: extra deliveries are no-ops.
    return services.index_rebuild()
