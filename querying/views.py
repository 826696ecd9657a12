"""POST /query/stream: the answer as server-sent events (querying.services.answer_events), a plain
Django view (DRF's content negotiation would fight text/event-stream).

Who asks, whether they may, how often, and what they ask are checked as POST /query checks them
(querying.api.QueryApi), so both refuse alike, before any byte goes out. Retrieval runs on the
retrieval executor (querying.executor): when a thread is free the stream starts once the passages
are found, so a failure to retrieve is an ordinary JSON error; when every thread is taken the
stream starts at once with a `: queued` comment and heartbeats, and a failure to retrieve is then
an `error` event; past the queue's bound the answer is 503 with Retry-After."""

import asyncio
import logging
import weakref
from contextlib import aclosing
from typing import AsyncGenerator, Iterator

from django.conf import settings
from django.http import JsonResponse, StreamingHttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from rest_framework.exceptions import ValidationError

from access.rest import drf_admit
from querying import services
from querying.api import QueryApi, question_options
from querying.errors import FAILURES, STREAM_FAILURES, failure, failure_response
from querying.executor import Job, retrieval_executor, run_sync
from querying.sse import EventFormatter, abatches_with_heartbeat, sse_comment

logger = logging.getLogger(__name__)


async def _csrf_refused(request) -> bool:
    """CSRF rides on the cookies a browser sends by itself. The token must come (as the ask page
    sends it) with a request that carries the CSRF cookie, i.e. from a browser that opened a page
    of this site, or whose session logs a user in (as DRF checks POST /query). A client with no
    cookies (curl, an SDK), or one that keeps only the session cookie an anonymous answer set
    (a script's cookie jar, holding its conversations), streams without one, as it asks POST
    /query. The check is the middleware's own (process_view returns None to accept a request, a
    response to refuse it; it logs why)."""
    if not request.COOKIES:
        return False
    if settings.CSRF_COOKIE_NAME not in request.COOKIES and not (await request.auser()).is_authenticated:
        return False
    check = CsrfViewMiddleware(lambda request: None)
    check.process_request(request)
    return check.process_view(request, None, (), {}) is not None


class EventStreamResponse(StreamingHttpResponse):
    """A text/event-stream response over an async iterator of bytes.

    Under ASGI Django reads the iterator as it goes. Under WSGI (runserver, the live test server)
    StreamingHttpResponse would read it to its end before sending a byte; this one steps it on an
    event loop of its own instead, so each event still goes out when it is ready."""

    def __init__(self, events: AsyncGenerator[bytes, None]):
        super().__init__(events, content_type="text/event-stream; charset=utf-8")
        self.events = events
        self["Cache-Control"] = "no-cache"
        self["X-Accel-Buffering"] = "no"  # nginx and friends: pass each event on at once

    def __iter__(self) -> Iterator[bytes]:
        if not self.is_async:
            return super().__iter__()
        return self._step_through(self.streaming_content)

    def _step_through(self, content: AsyncGenerator[bytes, None]) -> Iterator[bytes]:
        loop = asyncio.new_event_loop()
        try:
            while True:
                try:
                    yield loop.run_until_complete(anext(content))
                except StopAsyncIteration:
                    return
        finally:  # also when the WSGI server closes this early (the client went away)
            loop.run_until_complete(content.aclose())  # Django's wrappers around the events
            loop.run_until_complete(self.events.aclose())  # and the events, down to the provider
            loop.run_until_complete(loop.shutdown_asyncgens())  # what else ran on it (the provider's client)
            loop.close()


def _admit(request) -> tuple[dict | None, JsonResponse | None]:
    """Who asks, whether they may, how often, the body, and the conversation it continues, as POST
    /query takes them, so both refuse alike (401/403/429/400/413/404 as JSON): the answer's
    options, or the refusal. One trip to a database thread."""
    payload, refusal = drf_admit(request, QueryApi)
    if refusal is not None:
        return None, refusal
    try:
        return question_options(request, payload), None
    except ValidationError as invalid:
        return None, JsonResponse(invalid.detail, status=400, safe=False)
    except FAILURES as exc:
        return None, _json(exc)


def _json(exc: Exception) -> JsonResponse:
    status, body, headers = failure_response(exc)
    return JsonResponse(body, status=status, headers=headers)


@csrf_exempt
@require_POST
async def query_stream(request):
    """POST /query/stream (the events: querying.services; the contract: docs/api.md)."""
    if await _csrf_refused(request):
        return JsonResponse(
            {"detail": "The page's security token is missing or out of date (CSRF check failed): reload the page and ask again."},
            status=403,
        )
    options, refusal = await run_sync(_admit, request)
    if refusal is not None:
        return refusal
    try:
        job = retrieval_executor().submit(services.answer_prepare, **options)
    except FAILURES as exc:
        return _json(exc)
    if job.queued:
        # Every retrieval thread is busy: the stream starts now, so the client hears at once that
        # it is waiting (and heartbeats while it waits) instead of nothing until it gives up.
        events = _events_when_prepared(job)
    else:
        try:
            plan = await job.result()
        except FAILURES as exc:
            return _json(exc)
        events = services.answer_events(plan=plan)
    body = _body(events, job)
    weakref.finalize(body, job.future.cancel)  # a body never read (the client left at once)
    return EventStreamResponse(body)


async def _body(events: AsyncGenerator[dict, None], job: Job) -> AsyncGenerator[bytes, None]:
    formatter = EventFormatter()
    batches = abatches_with_heartbeat(events, settings.RAGSITE_SSE_HEARTBEAT_SECONDS)
    try:
        if job.queued:
            yield sse_comment("queued")
        async with aclosing(batches):  # closing the body closes the provider's stream
            async for batch in batches:
                yield b"".join(formatter(item) for item in batch)
    finally:
        job.future.cancel()  # a place still waiting in the queue is given back; done or running: no-op


async def _events_when_prepared(job: Job) -> AsyncGenerator[dict, None]:
    """The answer's events for a question that waited for a retrieval thread. The response has
    started, so a failure to retrieve is an `error` event, then `done`. An asker who leaves
    while it waits gives its place back."""
    try:
        plan = await job.result()
    except STREAM_FAILURES as exc:
        detail = failure(exc)[1]
        logger.warning("question failed after waiting %.0f ms for retrieval: %s", job.waited_ms, detail["message"])
        yield {"error": detail}
        yield {"done": True, "timings": {"queued": job.waited_ms}, "usage": {}}
        return
    plan.timings["queued"] = job.waited_ms
    async with aclosing(services.answer_events(plan=plan)) as events:
        async for item in events:
            yield item
