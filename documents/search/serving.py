"""The index this process answers from, following the current version without a restart.

At most every `interval` seconds (the embedded backend's version_check_seconds) a query reads
the current version from the database (one indexed row); when it changed, that one query loads
the new version while the others keep answering from the old one, then the reference is
swapped. Queries that hold the old LoadedIndex finish on it; it is freed when the last of them
lets go.
"""

import logging
import threading
import time
from pathlib import Path

from django.conf import settings

from documents.models import SearchIndexState
from documents.search.bm25 import BM25Backend
from documents.search.errors import SearchError
from documents.search.index import IndexLoadError, LoadedIndex, load_index
from documents.backends import backend

logger = logging.getLogger(__name__)


def bm25_backend() -> BM25Backend:
    return backend("RAGSITE_BM25")


class _Serving:
    def __init__(self):
        self.index: LoadedIndex | None = None
        self.source: tuple[Path, str] | None = None  # (index root, version folder) loaded
        self.checked_at = float("-inf")
        self.checked_root: Path | None = None
        self.lock = threading.Lock()

    def invalidate(self) -> None:
        self.checked_at = float("-inf")

    def current(self, interval: float) -> LoadedIndex | None:
        """The current index, or None when none was ever built. Raises SearchError only when no
        index can be loaded at all; a failed reload keeps the loaded one serving."""
        root = Path(settings.RAGSITE_INDEX_ROOT)
        if self.checked_root == root and time.monotonic() - self.checked_at < interval:
            return self.index
        same_root_loaded = self.index is not None and self.source and self.source[0] == root
        # One thread checks and loads; the others keep serving what is loaded meanwhile.
        if not self.lock.acquire(blocking=not same_root_loaded):
            return self.index
        try:
            return self._refresh(root)
        finally:
            self.lock.release()

    def _refresh(self, root: Path) -> LoadedIndex | None:
        current_dir = SearchIndexState.objects.filter(pk=1).values_list("current_dir", flat=True).first() or ""
        try:
            return self._follow(root, current_dir)
        finally:
            # Only once the index is in place: threads arriving during a first load must wait
            # for it (see current()), not take the empty fast path.
            self.checked_at, self.checked_root = time.monotonic(), root

    def _follow(self, root: Path, current_dir: str) -> LoadedIndex | None:
        if not current_dir:
            self.index, self.source = None, None
            return None
        if self.source == (root, current_dir):
            return self.index
        try:
            loaded = load_index(root / current_dir, bm25=bm25_backend())
        except IndexLoadError as exc:
            if self.index is not None and self.source[0] == root:
                logger.warning("keeping search index v%s: %s", self.index.version, exc)
                return self.index
            raise SearchError(str(exc)) from exc
        previous = self.index.version if self.index is not None and self.source[0] == root else None
        self.index, self.source = loaded, (root, current_dir)
        logger.info(
            "search index v%s loaded (%s chunks)%s",
            loaded.version, loaded.chunk_count, f", replacing v{previous}" if previous is not None else "",
        )
        return loaded


_serving = _Serving()


def current_index(*, interval: float = 2.0) -> LoadedIndex | None:
    """The index version this process answers from, checked against the current one at most
    every `interval` seconds."""
    return _serving.current(interval)


def invalidate() -> None:
    """Make the next query check the current version now (this process just published one)."""
    _serving.invalidate()
