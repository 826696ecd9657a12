"""Rebuilding the embedded search index: derived data, built from the vectors and texts stored
with the chunks (never by embedding again), written into a new version folder and then made
current (documents.search.embedded asks for rebuilds; documents.search.tasks runs them).

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
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.db.models.functions import Length
from django.utils import timezone

from documents.lib import heartbeat
from documents.models import SKIPPED_LISTED, Document, SearchIndexState
from documents.search import index as index_files
from documents.search import serving
from documents.search.errors import SearchError
from documents.selectors import current_chunks
from documents.text.tokenize import tokenize

logger = logging.getLogger(__name__)

# A build indexes word stems (tokenize(stems=True)) and says so in its manifest; queries are
# tokenised as the index in service was built, so one built before stemming still answers.
KEYWORD_STEMS = True

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


@dataclass(frozen=True)
class Rebuilds:
    """How builders in several processes share the work (the embedded backend's OPTIONS)."""

    # A claim whose heartbeat is this old belongs to a dead builder and may be taken over (a live
    # builder beats every sixth of it, at most every 5 s).
    stale_seconds: float = 30
    # How long an in-process refresh (manage.py ingest) waits for another process's build.
    wait_seconds: float = 300
    # Index versions kept on disk (the current one and the ones before it).
    keep_versions: int = 3

    @property
    def heartbeat_seconds(self) -> float:
        return max(0.5, min(5.0, self.stale_seconds / 6))


def rebuild_request() -> bool:
    """Mark that the index must be rebuilt; returns whether a task should be sent for it: not
    when a request is already on its way (a task, or the running build sees the flag when it
    finishes), unless that request looks lost."""
    index_state()
    now = timezone.now()
    state = SearchIndexState.objects.filter(pk=1)
    if state.filter(rebuild_requested=False).update(rebuild_requested=True, requested_at=now):
        return True
    lost_before = now - timedelta(seconds=RESEND_AFTER_SECONDS)
    return bool(
        state.filter(rebuild_requested=True, requested_at__lt=lost_before, building_since=None).update(requested_at=now)
    )


def _claim(builder: str, rebuilds: Rebuilds) -> bool:
    """Take the rebuild for this builder: a request is pending (or a builder died holding the
    claim) and nobody else is building. A builder is dead when its heartbeat is stale."""
    now = timezone.now()
    stale = now - timedelta(seconds=rebuilds.stale_seconds)
    dead_builder = Q(building_since__isnull=False) & (
        Q(builder_heartbeat_at__lt=stale) | Q(builder_heartbeat_at__isnull=True, building_since__lt=stale)
    )
    nobody_building = Q(building_since__isnull=True) | dead_builder
    pending = Q(rebuild_requested=True) | dead_builder
    return bool(
        SearchIndexState.objects.filter(nobody_building, pending, pk=1).update(
            rebuild_requested=False, building_since=now, builder_heartbeat_at=now, builder=builder
        )
    )


def _beat(builder: str) -> bool:
    return bool(SearchIndexState.objects.filter(pk=1, builder=builder).update(builder_heartbeat_at=timezone.now()))


def _release(builder: str, error: str = "") -> None:
    SearchIndexState.objects.filter(pk=1, builder=builder).update(
        building_since=None, builder_heartbeat_at=None, builder="", last_error=error,
        failed_at=timezone.now() if error else None,
    )


def index_rebuild(*, rebuilds: Rebuilds = Rebuilds(), wait: bool = False) -> int | None:
    """Build while rebuilds are requested and nobody else is building; returns the last version
    this call built, or None.

    With wait=True, when another process holds the claim, wait for it: it rechecks the request
    flag after its build, so when nothing is requested and nobody builds, the index is current."""
    index_state()
    builder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    built = None
    deadline = time.monotonic() + rebuilds.wait_seconds
    while True:
        if _claim(builder, rebuilds):
            try:
                with heartbeat(lambda: _beat(builder), interval=rebuilds.heartbeat_seconds, name="index-heartbeat"):
                    built = _build_and_publish(keep_versions=rebuilds.keep_versions)
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
                f"waited {rebuilds.wait_seconds:g} s for another process to rebuild the search index "
                "(settings.RAGSITE_SEARCH_BACKEND rebuild_wait_seconds option); the index may not hold the "
                "newest documents yet"
            )
        time.sleep(0.1)


def _next_version() -> int:
    with transaction.atomic():
        state = SearchIndexState.objects.select_for_update().get(pk=1)
        state.last_version += 1
        state.save(update_fields=["last_version"])
    return state.last_version


@dataclass
class _Rows:
    """What a build takes from the current chunks: the vectors of the most common (model, vector
    size) and the keyword tokens, and what it left out, per document, with the reason."""

    embedding_model: str
    dimension: int
    chunk_ids: list = field(default_factory=list)
    document_ids: list = field(default_factory=list)
    blobs: list = field(default_factory=list)
    corpus_ids: list = field(default_factory=list)  # token ids per chunk
    vocab: dict = field(default_factory=dict)  # token -> id: one copy of each token string however many chunks
    indexed: dict = field(default_factory=dict)  # document id -> generation in this index
    unindexed: dict = field(default_factory=lambda: defaultdict(list))
    skipped: Counter = field(default_factory=Counter)

    def leave_out(self, document_id: int, page: int, reason: str, *, kind: str) -> None:
        """Say on its document why a passage is left out; `kind` counts it in the manifest."""
        self.unindexed[document_id].append({"page": page, "reason": reason})
        self.skipped[kind] += 1

    def unusable(self, model: str, blob: bytes) -> str:
        """Why a chunk's vector cannot be in this index, or ""."""
        if model != self.embedding_model:
            return (f"embedded with {model!r} while the index holds {self.embedding_model!r} vectors: "
                    "run `python manage.py reembed`")
        if len(blob) != self.dimension * 4:
            return f"its stored vector is damaged ({len(blob)} bytes, expected {self.dimension * 4})"
        if not np.isfinite(np.frombuffer(blob, dtype="<f4")).all():
            return "its stored vector is not finite"
        return ""


def _index_rows() -> _Rows:
    """The current chunks as a build takes them. Chunks of another model or vector size, damaged
    vectors and text that cannot be tokenised are left out (or out of keyword search) one by one,
    with the reason on their document."""
    per_kind = (
        current_chunks().order_by().annotate(size=Length("embedding"))
        .values("embedding_model", "size").annotate(n=Count("pk"))
    )
    kinds = Counter({(row["embedding_model"], row["size"]): row["n"] for row in per_kind})
    embedding_model, size = kinds.most_common(1)[0][0] if kinds else ("", 0)
    rows = _Rows(embedding_model=embedding_model, dimension=(size or 0) // 4)
    chunks = current_chunks().order_by("pk").values_list(
        "pk", "document_id", "document__generation", "page", "embedding_model", "embedding", "text"
    )
    for pk, document_id, generation, page, model, blob, text in chunks.iterator(chunk_size=2000):
        blob = bytes(blob)
        if reason := rows.unusable(model, blob):
            rows.leave_out(document_id, page, reason, kind=reason.split(":")[0])
            continue
        try:
            tokens = tokenize(text, stems=KEYWORD_STEMS)
        except Exception as exc:  # one passage's text must not fail the index: dense search still finds it
            logger.exception("search index: chunk %s could not be tokenised", pk)
            rows.leave_out(document_id, page, f"left out of keyword search: its text could not be tokenised ({exc})",
                           kind="not tokenised (keyword search only)")
            tokens = []
        rows.chunk_ids.append(pk)
        rows.document_ids.append(document_id)
        rows.blobs.append(blob)
        rows.corpus_ids.append([rows.vocab.setdefault(token, len(rows.vocab)) for token in tokens])
        rows.indexed[document_id] = generation
    if rows.skipped:
        logger.warning("search index: %s chunks left out: %s", sum(rows.skipped.values()), dict(rows.skipped))
    return rows


def _build_and_publish(*, keep_versions: int) -> int:
    """Build a new version from the current chunks and make it current, unless a newer one was
    published meanwhile; delete all but the newest versions. Returns the version built."""
    started = time.monotonic()
    rows = _index_rows()
    vectors = np.frombuffer(b"".join(rows.blobs), dtype="<f4").reshape(len(rows.blobs), rows.dimension or 1)
    rows.blobs.clear()
    version = _next_version()
    root = settings.RAGSITE_INDEX_ROOT
    built_at = timezone.now()
    name = index_files.build_index_dir(
        root=root,
        version=version,
        chunk_ids=np.asarray(rows.chunk_ids, dtype=np.int64),
        document_ids=np.asarray(rows.document_ids, dtype=np.int64),
        vectors=vectors.astype(np.float32),
        corpus_ids=rows.corpus_ids,
        vocab=rows.vocab,
        bm25=serving.bm25_backend(),
        manifest={
            "embedding_model": rows.embedding_model,
            "dimension": rows.dimension,
            "keyword_stems": KEYWORD_STEMS,
            "built_at": built_at.isoformat(),
            "skipped_chunks": dict(rows.skipped),
        },
    )
    seconds = time.monotonic() - started
    published = (
        SearchIndexState.objects.filter(pk=1)
        .filter(Q(current_version__isnull=True) | Q(current_version__lt=version))
        .update(
            current_version=version, current_dir=name, embedding_model=rows.embedding_model, dimension=rows.dimension,
            chunk_count=len(rows.chunk_ids), built_at=built_at, build_seconds=seconds,
        )
    )
    if published:
        _record_documents(rows.indexed, rows.unindexed)
        serving.invalidate()  # this process answers from the new version on its next query
        logger.info("search index v%s built: %s chunks in %.1f s", version, len(rows.chunk_ids), seconds)
    else:
        logger.warning("search index v%s built but a newer version is already current; discarded", version)
    current = SearchIndexState.objects.filter(pk=1).values_list("current_dir", flat=True).first() or ""
    index_files.prune_versions(root, keep=keep_versions, current=current)
    return version


def _record_documents(indexed: dict[int, int], unindexed: dict[int, list[dict]]) -> None:
    """Tell each document what the published index holds of it: the generation it searches
    (the document is searchable when that is its current one), and the passages it left out."""
    by_generation = defaultdict(list)
    for document_id, generation in indexed.items():
        by_generation[generation].append(document_id)
    gone = set(Document.objects.filter(indexed_generation__gt=0).values_list("pk", flat=True)) - indexed.keys()
    by_generation[0] = sorted(gone)
    cleared = set(Document.objects.exclude(unindexed_chunks=[]).values_list("pk", flat=True)) - unindexed.keys()
    with transaction.atomic():
        for generation, ids in by_generation.items():
            for start in range(0, len(ids), 1000):
                Document.objects.filter(pk__in=ids[start : start + 1000]).update(indexed_generation=generation)
        for document_id, entries in unindexed.items():
            Document.objects.filter(pk=document_id).update(unindexed_chunks=entries[:SKIPPED_LISTED])
        ids = sorted(cleared)
        for start in range(0, len(ids), 1000):
            Document.objects.filter(pk__in=ids[start : start + 1000]).update(unindexed_chunks=[])
