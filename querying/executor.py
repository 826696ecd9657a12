"""Where a web process runs the blocking part of a question, off its event loop.

- The retrieval executor (`retrieval_executor()`): a question's retrieval and prompt
  (querying.services.answer_prepare), for POST /query and POST /query/stream alike. At most
  RAGSITE_RETRIEVAL_THREADS run at once, at most RAGSITE_QUERY_QUEUE_MAX wait behind them, first
  come first served; past that `submit` raises Busy at once, and the question is answered 503
  with Retry-After instead of waiting until its client gives up.
- `run_sync`: the short database steps around a streamed answer (who asks, their conversation,
  the answer recorded at the end), on DATABASE_THREADS threads of their own, so that a question
  waiting for retrieval never holds them up.

Both start all their threads when they are made, so that no request ever starts one. Each call
closes the database connections its thread opened, as the end of a request would (nothing else
closes them in these threads).

Not Django's thread-sensitive executor: under ASGI that keeps a thread parked for a whole answer
stream, and starting one per request blocked the event loop that relays every other stream's
tokens (docs/architecture.md)."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections

T = TypeVar("T")

# What a refused client is told to wait: about what a full queue takes to drain on 2 cores.
RETRY_AFTER_SECONDS = 5
# The database steps take milliseconds; a few threads keep up with hundreds of streams.
DATABASE_THREADS = 4


class Busy(Exception):
    """Every retrieval thread is taken and the queue in front of them is full."""

    retry_after = RETRY_AFTER_SECONDS

    def __init__(self, waiting: int):
        super().__init__(f"the server is answering as many questions as it can ({waiting} waiting); try again in {self.retry_after} s")
        self.message = str(self)


def _started_pool(size: int, name: str) -> ThreadPoolExecutor:
    """A thread pool whose `size` threads are running already (a pool starts them lazily, one
    when a job finds none idle: a thread started while a request waits)."""
    pool = ThreadPoolExecutor(size, thread_name_prefix=name)
    barrier = threading.Barrier(size + 1)
    for _ in range(size):
        pool.submit(barrier.wait)  # each finds every thread busy at the barrier: a new one starts
    barrier.wait()
    return pool


def _closing(function: Callable[..., T]) -> Callable[..., T]:
    def run(*args, **kwargs) -> T:
        try:
            return function(*args, **kwargs)
        finally:
            connections.close_all()

    return run


class Job:
    """One submitted call: its future, whether it had to wait for a thread, and when it started."""

    future: Future

    def __init__(self, *, queued: bool, submitted: float):
        self.queued = queued
        self.submitted = submitted
        self.started: float | None = None

    @property
    def waited_ms(self) -> float:
        """How long it waited for a thread (so far, while it still waits)."""
        return round(((self.started or time.perf_counter()) - self.submitted) * 1000, 2)

    async def result(self):
        """Its result, or its exception, holding no thread meanwhile. Cancelling the awaiting task
        (an asker who left) gives up the job's place if it has not started."""
        try:
            return await asyncio.wrap_future(self.future)
        except asyncio.CancelledError:
            self.future.cancel()
            raise

    def wait(self):
        """Its result, blocking this thread."""
        return self.future.result()


class RetrievalExecutor:
    """A thread pool of `threads` with a bounded queue: `submit` refuses past `queue_max` waiting."""

    def __init__(self, threads: int, queue_max: int):
        self.threads = max(1, threads)
        self.queue_max = max(0, queue_max)
        self._pool = _started_pool(self.threads, "ragsite-retrieval")
        self._lock = threading.Lock()
        self.pending = 0  # submitted, not finished (running or waiting)

    def submit(self, function: Callable[..., T], /, *args, **kwargs) -> Job:
        with self._lock:
            if self.pending >= self.threads + self.queue_max:
                raise Busy(self.pending - self.threads)
            queued = self.pending >= self.threads
            self.pending += 1
        job = Job(queued=queued, submitted=time.perf_counter())

        def run():
            job.started = time.perf_counter()
            return _closing(function)(*args, **kwargs)

        job.future = self._pool.submit(run)
        job.future.add_done_callback(self._finished)
        return job

    def _finished(self, _future: Future) -> None:  # done, failed, or cancelled while it waited
        with self._lock:
            self.pending -= 1


_lock = threading.Lock()
_executor: RetrievalExecutor | None = None
_database_pool: ThreadPoolExecutor | None = None


def retrieval_executor() -> RetrievalExecutor:
    """This process's executor, sized by the settings (made again when a test changes them)."""
    global _executor
    size = max(1, settings.RAGSITE_RETRIEVAL_THREADS), max(0, settings.RAGSITE_QUERY_QUEUE_MAX)
    with _lock:
        if _executor is None or (_executor.threads, _executor.queue_max) != size:
            _executor = RetrievalExecutor(*size)
        return _executor


async def run_sync(function: Callable[..., T], /, *args, **kwargs) -> T:
    """function(*args, **kwargs) on a database thread, its connections closed after; the event
    loop waits without blocking."""
    global _database_pool
    with _lock:
        if _database_pool is None:
            _database_pool = _started_pool(DATABASE_THREADS, "ragsite-database")
    return await sync_to_async(_closing(function), thread_sensitive=False, executor=_database_pool)(*args, **kwargs)
