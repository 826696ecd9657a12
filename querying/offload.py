"""Where a web process runs blocking work off its event loop: two shared thread pools.

- The retrieval pool (RAGSITE_RETRIEVAL_THREADS threads): answer_prepare, i.e. the search
  (which waits there for a search process when there are some: documents.search.processes) and
  the prompt. querying.admission decides who may use it.
- The database pool (DATABASE_THREADS threads): the short reads and writes around a streamed
  answer (who asks, whether they may, their conversation; the answer recorded at the end).

Not Django's thread-sensitive executor: under ASGI that starts a thread for each request and keeps
it parked until the request ends, i.e. for a whole answer stream. With 200 answers streaming that
was 200 parked threads, and starting each one blocked the event loop that relays every other
stream's tokens until the new thread had run (bench/load.py). Each call closes the database
connections its thread opened, as the end of a request would (nothing else closes them here)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections

T = TypeVar("T")

# The database pool's calls take milliseconds; a few threads keep up with hundreds of streams.
DATABASE_THREADS = 4

_lock = threading.Lock()
_pools: dict[str, ThreadPoolExecutor] = {}


def _pool(name: str, size: int) -> ThreadPoolExecutor:
    with _lock:
        if name not in _pools:
            _pools[name] = ThreadPoolExecutor(size, thread_name_prefix=f"ragsite-{name}")
        return _pools[name]


def retrieval_pool() -> ThreadPoolExecutor:
    return _pool("retrieval", settings.RAGSITE_RETRIEVAL_THREADS)


def database_pool() -> ThreadPoolExecutor:
    return _pool("database", DATABASE_THREADS)


def _closing(function: Callable[..., T]) -> Callable[..., T]:
    def run(*args, **kwargs) -> T:
        try:
            return function(*args, **kwargs)
        finally:
            connections.close_all()

    return run


async def run_in(executor: ThreadPoolExecutor, function: Callable[..., T], /, *args, **kwargs) -> T:
    """function(*args, **kwargs) in one of executor's threads, its database connections closed
    after; the event loop waits without blocking."""
    return await sync_to_async(_closing(function), thread_sensitive=False, executor=executor)(*args, **kwargs)
