"""The embedded search backend (the default): a FAISS + bm25s index in versioned folders under
RAGSITE_INDEX_ROOT, rebuilt from the stored chunks after each change (documents.search.rebuild,
in the worker: documents.search.tasks) and followed by every process that searches
(documents.search.serving)."""

import logging

from django.db import transaction

from documents.search import rebuild, serving, tasks
from documents.search.backends import SearchBackend

logger = logging.getLogger(__name__)


class EmbeddedIndexBackend(SearchBackend):
    """OPTIONS: version_check_seconds (how often a searching process looks for a newer version:
    one indexed row read), keep_versions, rebuild_stale_seconds and rebuild_wait_seconds
    (documents.search.rebuild.Rebuilds), and the shared search Tuning."""

    name = "embedded"

    def __init__(
        self, *, version_check_seconds: float = 2.0, keep_versions: int = 3, rebuild_stale_seconds: float = 30,
        rebuild_wait_seconds: float = 300, **tuning,
    ):
        super().__init__(**tuning)
        self.version_check_seconds = version_check_seconds
        self.rebuilds = rebuild.Rebuilds(
            stale_seconds=rebuild_stale_seconds, wait_seconds=rebuild_wait_seconds, keep_versions=keep_versions
        )

    def searcher(self):
        return serving.current_index(interval=self.version_check_seconds)

    def refresh(self, *, in_process=False):
        """in_process=False (after an ingest or a delete): mark the request and send one task once
        the current transaction commits, unless a request is already on its way. in_process=True
        (manage.py ingest, reembed): build here and return only when the index holds everything
        committed before the call, even if another process was building."""
        send = rebuild.rebuild_request()
        if in_process:
            rebuild.index_rebuild(rebuilds=self.rebuilds, wait=True)
        elif send:
            transaction.on_commit(_send_rebuild_task)

    def rebuild_pending(self):
        return rebuild.index_rebuild(rebuilds=self.rebuilds)

    def fill(self, *, progress=lambda line: None) -> int:
        self.refresh(in_process=True)
        return rebuild.index_state().chunk_count


def _send_rebuild_task() -> None:
    try:
        tasks.index_rebuild_task.delay()
    except Exception as exc:  # kombu raises OperationalError and friends
        logger.warning("could not reach the broker to rebuild the search index; it will be sent again: %s", exc)
