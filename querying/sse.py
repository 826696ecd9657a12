"""Server-sent events: formatting, and heartbeats on a quiet stream. Pure code (no Django)."""

from __future__ import annotations

import asyncio
import json
from typing import AsyncIterator

HEARTBEAT = object()  # what the heartbeat wrapper yields after `interval` seconds of silence
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
