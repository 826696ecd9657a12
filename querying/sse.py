"""Server-sent events: formatting, and heartbeats on a quiet stream. Pure code (no Django)."""

from __future__ import annotations

import asyncio
import json
import queue
import threading
from typing import AsyncIterator, Iterator

HEARTBEAT = object()  # what the heartbeat wrappers yield after `interval` seconds of silence
PING = b": ping\n\n"


def sse_event(data: dict, *, event_id: int) -> bytes:
    """One `data:` event with its `id:`; the JSON is on one line, so one `data:` line suffices."""
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    # A lone surrogate (JSON requests may carry them) has no UTF-8 form: it is written as the JSON
    # escape \udXXX, which parses back to the same string.
    return f"id: {event_id}\ndata: {payload}\n\n".encode("utf-8", "backslashreplace")


def sse_comment(text: str) -> bytes:
    """A comment line: clients ignore it, proxies see traffic."""
    return "".join(f": {line}\n" for line in text.splitlines() or [""]).encode("utf-8", "backslashreplace") + b"\n"


class EventFormatter:
    """Numbers the events of one stream 1, 2, 3, ... and turns heartbeats into comments."""

    def __init__(self):
        self.last_id = 0

    def __call__(self, item) -> bytes:
        if item is HEARTBEAT:
            return PING
        self.last_id += 1
        return sse_event(item, event_id=self.last_id)


_ITEM, _QUIET, _FAILED, _FINISHED = range(4)


async def abatches_with_heartbeat(items: AsyncIterator, interval: float, *, max_pending: int = 256) -> AsyncIterator[list]:
    """Yield lists of what `items` produced: each list holds every item ready at that moment
    (one, unless the reader fell behind: then sending them together helps it catch up), or
    [HEARTBEAT] after `interval` seconds without output.

    `items` runs in a task of its own, at most `max_pending` items ahead of the reader. Closing
    or cancelling this generator (a client disconnect) cancels that task, which closes `items`
    where it waits. Costs no task or timer per item: one timer per `interval`."""
    loop = asyncio.get_running_loop()
    pending: asyncio.Queue = asyncio.Queue(maxsize=max_pending)
    last_output = loop.time()

    async def pump():
        try:
            async for item in items:
                await pending.put((_ITEM, item))
        except Exception as exc:  # handed to the reader, which re-raises it
            await pending.put((_FAILED, exc))
        else:
            await pending.put((_FINISHED, None))

    def on_timer():
        nonlocal timer
        silent_for = loop.time() - last_output
        if silent_for >= interval and pending.empty():
            pending.put_nowait((_QUIET, None))
            silent_for = 0.0
        timer = loop.call_later(max(interval - silent_for, 0.001), on_timer)

    producer = asyncio.create_task(pump())
    timer = loop.call_later(interval, on_timer)
    try:
        while True:
            entries = [await pending.get()]
            while not pending.empty():
                entries.append(pending.get_nowait())
            batch = []
            for kind, value in entries:
                if kind == _ITEM:
                    batch.append(value)
                elif kind == _QUIET:
                    batch.append(HEARTBEAT)
                else:
                    if batch:
                        yield batch
                    if kind == _FAILED:
                        raise value
                    return
            last_output = loop.time()
            yield batch
    finally:
        timer.cancel()
        if not producer.done():
            producer.cancel()
        try:
            await producer
        except asyncio.CancelledError:
            pass
        aclose = getattr(items, "aclose", None)
        if aclose is not None:
            await aclose()


async def aiter_with_heartbeat(items: AsyncIterator, interval: float) -> AsyncIterator:
    """abatches_with_heartbeat, one item at a time."""
    batches = abatches_with_heartbeat(items, interval)
    try:
        async for batch in batches:
            for item in batch:
                yield item
    finally:
        await batches.aclose()


_END = object()


def iter_with_heartbeat(items: Iterator, interval: float) -> Iterator:
    """The blocking twin of aiter_with_heartbeat, for WSGI: a worker thread reads `items`.

    Closing this generator (a WSGI server does when the client is gone) tells the thread to stop
    after its current item and close `items` there."""
    handoff: queue.Queue = queue.Queue()
    stop = threading.Event()

    def produce():
        iterator = iter(items)
        try:
            for item in iterator:
                handoff.put(("item", item))
                if stop.is_set():
                    break
        except BaseException as exc:  # handed to the reader, which re-raises it
            handoff.put(("error", exc))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()
            handoff.put(("end", None))

    threading.Thread(target=produce, name="sse-producer", daemon=True).start()
    try:
        while True:
            try:
                kind, value = handoff.get(timeout=interval)
            except queue.Empty:
                yield HEARTBEAT
                continue
            if kind == "item":
                yield value
            elif kind == "error":
                raise value
            else:
                return
    finally:
        stop.set()
