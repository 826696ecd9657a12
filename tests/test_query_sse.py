"""SSE formatting and heartbeats (pure code)."""

import asyncio
import json

from querying.sse import (
    HEARTBEAT,
    PING,
    EventFormatter,
    abatches_with_heartbeat,
    sse_comment,
    sse_event,
)


async def aiter_with_heartbeat(items, interval):
    """abatches_with_heartbeat, one item at a time."""
    batches = abatches_with_heartbeat(items, interval)
    try:
        async for batch in batches:
            for item in batch:
                yield item
    finally:
        await batches.aclose()


def test_an_event_is_an_id_and_one_line_of_json():
    raw = sse_event({"token": "two\nlines — ünïcode"}, event_id=7)
    assert raw == 'id: 7\ndata: {"token":"two\\nlines — ünïcode"}\n\n'.encode()
    assert json.loads(raw.decode().split("data: ", 1)[1]) == {"token": "two\nlines — ünïcode"}


def test_comments_start_each_line_with_a_colon():
    assert sse_comment("ping") == PING == b": ping\n\n"
    assert sse_comment("a\nb") == b": a\n: b\n\n"


def test_formatter_numbers_events_and_not_heartbeats():
    fmt = EventFormatter()
    out = [fmt({"meta": {}}), fmt(HEARTBEAT), fmt({"token": "x"})]
    assert out[0].startswith(b"id: 1\n") and out[1] == PING and out[2].startswith(b"id: 2\n")


async def _slow(closed: list):
    try:
        yield "first"
        await asyncio.sleep(0.35)
        yield "second"
    finally:
        closed.append(True)


def test_async_heartbeat_fills_silence_without_losing_or_reordering_items():
    closed = []

    async def run():
        return [item async for item in aiter_with_heartbeat(_slow(closed), 0.1)]

    items = asyncio.run(run())
    assert items[0] == "first" and items[-1] == "second"
    assert 2 <= items.count(HEARTBEAT) <= 4
    assert closed == [True]


def test_closing_the_async_heartbeat_wrapper_closes_the_source_while_it_waits():
    closed = []

    async def run():
        wrapper = aiter_with_heartbeat(_slow(closed), 10)
        assert await anext(wrapper) == "first"
        reader = asyncio.create_task(anext(wrapper))
        await asyncio.sleep(0.05)  # the source is now sleeping inside its next item
        reader.cancel()
        try:
            await reader
        except asyncio.CancelledError:
            pass
        await wrapper.aclose()

    asyncio.run(run())
    assert closed == [True]


def test_heartbeat_fills_silence_and_closing_closes_the_source():
    closed = []

    async def slow():
        try:
            yield "first"
            await asyncio.sleep(0.35)
            yield "second"
            await asyncio.sleep(0.3)
            yield "third"
        finally:
            closed.append(True)

    async def run():
        wrapper = aiter_with_heartbeat(slow(), 0.1)
        items = []
        async for item in wrapper:
            items.append(item)
            if item == "second":
                break
        await wrapper.aclose()
        return items

    items = asyncio.run(run())
    assert items[0] == "first" and items[-1] == "second" and HEARTBEAT in items
    assert closed == [True]


def test_heartbeat_passes_errors_through():
    async def failing():
        yield "a"
        raise ValueError("boom")

    async def run():
        wrapper = aiter_with_heartbeat(failing(), 1)
        assert await anext(wrapper) == "a"
        try:
            await anext(wrapper)
        except ValueError as exc:
            assert str(exc) == "boom"
        else:
            raise AssertionError("the error was swallowed")

    asyncio.run(run())


def test_items_ready_together_are_sent_together_in_order():
    async def burst():
        for i in range(5):
            yield i
        await asyncio.sleep(0.05)
        yield 5

    async def run():
        batches = abatches_with_heartbeat(burst(), 10)
        first = await anext(batches)
        await asyncio.sleep(0.01)  # the reader is behind: the rest of the burst waits for it
        rest = [batch async for batch in batches]
        return [first, *rest]

    batches = asyncio.run(run())
    assert [item for batch in batches for item in batch] == [0, 1, 2, 3, 4, 5]
    assert len(batches) < 6  # some were coalesced
