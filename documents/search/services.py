"""Rebuilding the search index: derived data, built from the vectors and texts stored with the
chunks (never by embedding again), written into a new version folder and then made current.

Coalescing: a request sets SearchIndexState.rebuild_requested. A builder claims the work with a
conditional UPDATE (flag set, nobody building), which clears the flag; after each build it
tries to claim again. So requests made during a build cost exactly one more build, whatever the
number of requests, workers or processes.
"""

import logging
import os
import socket
import time
import uuid
from collections import Counter
from datetime import timedelta

import numpy as np
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from documents.models import Chunk, Document, SearchIndexState
from documents.search import index as index_files
from documents.search import serving
from documents.search.errors import SearchError
from documents.search.tokenize import tokenize

logger = logging.getLogger(__name__)

# A request still pending after this long with nobody building lost its message (the broker was
# down): the next request sends one again. The periodic task also picks such requests up.
RESEND_AFTER_SECONDS = 60


def index_state() -> SearchIndexState:
    """The single state row, created on first use."""
    state = SearchIndexState.objects.filter(pk=1).first()
    if state is None:
        try:
            with transaction.atomic():
                state, _ = SearchIndexState.objects.get_or_create(pk=1)
        except IntegrityError:
            state = SearchIndexState.objects.get(pk=1)
    return state


def index_rebuild_request(*, in_process: bool = False) -> None:
    """Ask for the index to be rebuilt from the stored chunks.

    in_process=False (after an ingest or a delete): mark the request and send one Celery task
    once the current transaction commits, unless a request is already on its way.
    in_process=True (manage.py ingest, reembed): build here and return only when the index
    holds everything committed before the call, even if another process was building."""
    index_state()
    now = timezone.now()
    state = SearchIndexState.objects.filter(pk=1)
    flipped = state.filter(rebuild_requested=False).update(rebuild_requested=True, requested_at=now)
    if in_process:
        index_rebuild(wait=True)
        return
    if not flipped:
        # Already requested: a task is on its way, or the running build will see the flag when
        # it finishes. Send again only if that request looks lost.
        lost_before = now - timedelta(seconds=RESEND_AFTER_SECONDS)
        flipped = state.filter(rebuild_requested=True, requested_at__lt=lost_before, building_since=None).update(
            requested_at=now
        )
    if flipped:
        transaction.on_commit(_send_rebuild_task)


def _send_rebuild_task() -> None:
    from documents.tasks import index_rebuild_task

    try:
        index_rebuild_task.delay()
    except Exception as exc:  # kombu raises OperationalError and friends
        logger.warning("could not reach the broker to rebuild the search index; it will be sent again: %s", exc)


def _claim(builder: str) -> bool:
    """Take the rebuild for this builder: a request is pending (or a builder died holding the
    claim) and nobody else is building."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.RAGSITE_SEARCH_REBUILD_STALE_SECONDS)
    nobody_building = Q(building_since__isnull=True) | Q(building_since__lt=stale)
    pending = Q(rebuild_requested=True) | Q(building_since__lt=stale)
    return bool(
        SearchIndexState.objects.filter(nobody_building, pending, pk=1).update(
            rebuild_requested=False, building_since=now, builder=builder
        )
    )


def _release(builder: str, error: str = "") -> None:
    SearchIndexState.objects.filter(pk=1, builder=builder).update(building_since=None, builder="", last_error=error)


def index_rebuild(*, wait: bool = False) -> int | None:
    """Build while rebuilds are requested and nobody else is building; returns the last version
    this call built, or None.

    With wait=True, when another process holds the claim, wait for it: it rechecks the request
    flag after its build, so when nothing is requested and nobody builds, the index is current."""
    index_state()
    builder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    built = None
    deadline = time.monotonic() + settings.RAGSITE_SEARCH_REBUILD_WAIT_SECONDS
    while True:
        if _claim(builder):
            try:
                built = _build_and_publish()
            except Exception as exc:
                logger.exception("search index rebuild failed")
                _release(builder, error=f"rebuild failed: {exc}")
                raise
            _release(builder)
            continue
        if not wait:
            return built
        state = SearchIndexState.objects.filter(pk=1).values("rebuild_requested", "building_since").first()
        if state is None or (not state["rebuild_requested"] and state["building_since"] is None):
            return built
        if time.monotonic() > deadline:
            raise SearchError(
                f"waited {settings.RAGSITE_SEARCH_REBUILD_WAIT_SECONDS} s for another process to rebuild the search "
                "index (setting RAGSITE_SEARCH_REBUILD_WAIT_SECONDS); the index may not hold the newest documents yet"
            )
        time.sleep(0.1)


def _next_version() -> int:
    with transaction.atomic():
        state = SearchIndexState.objects.select_for_update().get(pk=1)
        state.last_version += 1
        state.save(update_fields=["last_version"])
    return state.last_version


def current_chunks():
    """The chunks that count: those of the current generation of ready documents."""
    return Chunk.objects.filter(document__status=Document.Status.READY, generation=F("document__generation"))


def _build_and_publish() -> int:
    started = time.monotonic()
    rows = current_chunks().order_by("pk").values_list("pk", "document_id", "embedding_model", "embedding", "text")
    per_model = current_chunks().order_by().values("embedding_model").annotate(n=Count("pk"))
    models = Counter({row["embedding_model"]: row["n"] for row in per_model})
    embedding_model = models.most_common(1)[0][0] if models else ""
    skipped = {model: count for model, count in models.items() if model != embedding_model}
    if skipped:
        logger.warning(
            "search index: %s chunks embedded with other models than %s are left out (%s): "
            "run `python manage.py reembed`",
            sum(skipped.values()), embedding_model, skipped,
        )
    chunk_ids, document_ids, blobs, corpus_ids = [], [], [], []
    vocab: dict[str, int] = {}  # token -> id: one copy of each token string however many chunks
    dimension = 0
    for pk, document_id, model, blob, text in rows.iterator(chunk_size=2000):
        if model != embedding_model:
            continue
        blob = bytes(blob)
        if not dimension:
            dimension = len(blob) // 4
        if len(blob) != dimension * 4:
            skipped[f"{model} (bad vector length)"] = skipped.get(f"{model} (bad vector length)", 0) + 1
            continue
        chunk_ids.append(pk)
        document_ids.append(document_id)
        blobs.append(blob)
        corpus_ids.append([vocab.setdefault(token, len(vocab)) for token in tokenize(text)])
    vectors = np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(blobs), dimension or 1).astype(np.float32)
    del blobs
    version = _next_version()
    root = settings.RAGSITE_INDEX_ROOT
    built_at = timezone.now()
    name = index_files.build_index_dir(
        root=root,
        version=version,
        chunk_ids=np.asarray(chunk_ids, dtype=np.int64),
        document_ids=np.asarray(document_ids, dtype=np.int64),
        vectors=vectors,
        corpus_ids=corpus_ids,
        vocab=vocab,
        bm25=serving.bm25_backend(),
        manifest={
            "embedding_model": embedding_model,
            "dimension": dimension,
            "built_at": built_at.isoformat(),
            "skipped_chunks": skipped,
        },
    )
    seconds = time.monotonic() - started
    published = (
        SearchIndexState.objects.filter(pk=1)
        .filter(Q(current_version__isnull=True) | Q(current_version__lt=version))
        .update(
            current_version=version,
            current_dir=name,
            embedding_model=embedding_model,
            dimension=dimension,
            chunk_count=len(chunk_ids),
            built_at=built_at,
            build_seconds=seconds,
        )
    )
    if published:
        serving.invalidate()  # this process answers from the new version on its next query
        logger.info("search index v%s built: %s chunks in %.1f s", version, len(chunk_ids), seconds)
    else:
        logger.warning("search index v%s built but a newer version is already current; discarded", version)
    current = SearchIndexState.objects.filter(pk=1).values_list("current_dir", flat=True).first() or ""
    index_files.prune_versions(root, keep=settings.RAGSITE_SEARCH_KEEP_VERSIONS, current=current)
    return version
