"""Threads that run beside a task: reading ahead of the consumer, and a heartbeat."""

import queue
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator

from django.db import connection


def read_ahead(items: Iterator, *, depth: int, deadline: float | None = None) -> Iterator:
    """Iterate over items produced by a background thread, at most `depth` of them ahead.
    An exception in the producer is raised here, in the consumer; so is TimeoutError when the
    next item is not ready by `deadline` (time.monotonic()). The producer is then told to stop,
    which it does after the item it is on (a thread cannot be killed)."""
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def produce():
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        buffer.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            buffer.put((done, None))
        except BaseException as exc:  # handed to the consumer
            buffer.put((done, exc))
        finally:
            connection.close()  # the producer's own connection, if it used one

    thread = threading.Thread(target=produce, name="ingest-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            try:
                item, error = buffer.get(timeout=None if deadline is None else max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError("the next item was not ready in time") from None
            if item is done:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


@contextmanager
def heartbeat(beat: Callable[[], bool], *, interval: float, name: str = "heartbeat"):
    """Call beat() every `interval` seconds in a thread of its own while the block runs, so that
    a long step (a slow page, a big embedding batch, an index build) never looks like a dead
    worker. beat() returns False when the work was taken over: the beats stop then (the work's
    own fenced writes notice it too). The thread's database connection is closed at the end.

    Inside a transaction (a test, or a caller's atomic block) there is no heartbeat: the rows it
    would touch are not visible to another connection until that transaction commits."""
    if connection.in_atomic_block:
        yield
        return
    stop = threading.Event()

    def run():
        try:
            while not stop.wait(interval):
                if not beat():
                    return
        finally:
            connection.close()

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=interval + 5)
