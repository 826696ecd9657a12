"""The rebuild task: a thin wrapper around the configured search backend."""

from celery import shared_task

from documents.search.backends import search_backend


@shared_task(acks_late=True, reject_on_worker_lost=True)
def index_rebuild_task() -> int | None:
    # Builds only while a rebuild is requested and nobody else builds: extra deliveries are no-ops.
    return search_backend().rebuild_pending()
