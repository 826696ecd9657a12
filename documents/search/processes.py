"""Searches in processes of their own, so that a web process's event loop never waits for them.

With settings.RAGSITE_SEARCH_PROCESSES = N > 0, chunk_search_isolated() runs chunk_search in one
of N child processes of the calling process, and the calling thread waits for the answer without
holding the interpreter lock. A web process relays every answer stream on one event loop; a
question's embedding, search and rerank run in a thread of that process held the lock in slices,
and each slice delayed every stream's next token (bench/load.py, 200 streams: p95 110 ms added
with 4 retrieval threads). With N = 0 the search runs in the calling thread.

The children are spawned (never forked from a process running threads and an event loop). Each
takes the settings as the parent has them when the pool starts, a test's overrides included, and
loads the models and the index before its first question. A child that dies (killed, out of
memory) fails the questions it held with a retryable SearchError, and the next question starts
new children.
"""

from __future__ import annotations

import logging
import multiprocessing
import pickle
import threading
from concurrent.futures import ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import NoReturn

from django.conf import settings

from documents.search import child
from documents.search.errors import SearchError
from documents.search.selectors import SearchResponse, chunk_search, search_status

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None


def _settings_snapshot() -> dict:
    """This process's settings that can be sent to a child (every one this project reads does)."""
    snapshot = {}
    for name in dir(settings):
        if not name.isupper():
            continue
        value = getattr(settings, name)
        try:
            pickle.dumps(value)
        except Exception:  # a callable or a handle: the child reads it from the settings module
            continue
        snapshot[name] = value
    return snapshot


def _current_pool() -> ProcessPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ProcessPoolExecutor(
                settings.RAGSITE_SEARCH_PROCESSES, mp_context=multiprocessing.get_context("spawn"),
                initializer=child.start, initargs=(_settings_snapshot(),),
            )
        return _pool


def _discard(pool: ProcessPoolExecutor) -> None:
    global _pool
    with _lock:
        if _pool is pool:
            _pool = None
    pool.shutdown(wait=False, cancel_futures=True)


def search_processes_start() -> list[int]:
    """Start the search processes now, each with its models and index loaded, and return their
    process ids; [] when searches run in the calling thread. A web process calls it as it starts
    (querying.services.answer_warm_up), so that the first asker waits no longer than the second."""
    if settings.RAGSITE_SEARCH_PROCESSES <= 0:
        return []
    pool = _current_pool()
    # Each submission finds no idle child and starts one, up to the pool's size.
    try:
        futures = [pool.submit(child.pid) for _ in range(settings.RAGSITE_SEARCH_PROCESSES)]
        wait(futures)
        return sorted({future.result() for future in futures})
    except BrokenProcessPool as exc:
        _discard(pool)
        raise SearchError(f"the search processes could not start: {exc}") from exc


def search_processes_stop() -> None:
    """Stop the search processes (the next search starts new ones, with the settings of then)."""
    with _lock:
        pool = _pool
    if pool is not None:
        _discard(pool)
        pool.shutdown(wait=True)


def _lost(pool: ProcessPoolExecutor, exc: BrokenProcessPool) -> NoReturn:
    _discard(pool)
    logger.error("a search process died while it answered (%s); new ones start with the next question", exc)
    raise SearchError("the search process stopped while it answered this question; ask again") from exc


def _isolated(function, **kwargs):
    """function(**kwargs) in a search process (or in this thread when there are none)."""
    if settings.RAGSITE_SEARCH_PROCESSES <= 0:
        return function(**kwargs)
    for attempt in range(2):
        pool = _current_pool()
        try:
            future = pool.submit(child.call, function, kwargs)
        except BrokenProcessPool as exc:  # (a RuntimeError too)
            _lost(pool, exc)
        except RuntimeError:  # another thread discarded this pool just now: once more, on a new one
            if attempt:
                raise
            continue
        try:
            return future.result()
        except BrokenProcessPool as exc:
            _lost(pool, exc)


def chunk_search_isolated(**kwargs) -> SearchResponse:
    """chunk_search(**kwargs) in a search process when settings.RAGSITE_SEARCH_PROCESSES asks for
    them, else in this thread. Raises what chunk_search raises, and a retryable SearchError when
    the search process died while it answered."""
    return _isolated(chunk_search, **kwargs)


def search_status_isolated() -> dict:
    """search_status() as the processes that search see it (the index version they answer from,
    their reranker), in one of them when there are some."""
    return _isolated(search_status)
