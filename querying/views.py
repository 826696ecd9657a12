import asyncio
import logging
import time
import weakref
from contextlib import aclosing
from typing import AsyncGenerator, Iterator

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import JsonResponse, StreamingHttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from access.rest import drf_admit
from documents.search.errors import SearchError
from querying import conversations, services
from querying.admission import QueueFull, Ticket, retrieval_gate
from querying.api import CONVERSATION_NOT_FOUND, QueryApi, QueryInputSerializer, error_status_and_body, queue_full_body
from querying.llm.base import LLMError
from querying.offload import database_pool, retrieval_pool, run_in
from querying.sse import EventFormatter, abatches_with_heartbeat, sse_comment

logger = logging.getLogger(__name__)


async def _prepare(options: dict):
    return await run_in(retrieval_pool(), services.answer_prepare, **options)


def _admit(request) -> tuple[dict | None, JsonResponse | None]:
    """Who asks, whether they may, how often, the body, and the conversation it continues: as
    POST /query takes them, so both refuse alike (401/403/429/400/413/404 as JSON). Returns the
    answer's options, or the refusal. One trip to a database thread."""
    payload, refusal = drf_admit(request, QueryApi)
    if refusal is not None:
        return None, refusal
    serializer = QueryInputSerializer(data=payload)
    if not serializer.is_valid():
        return None, JsonResponse(serializer.errors, status=400)
    owner = conversations.conversation_owner(request)  # reads the session
    options = {**serializer.validated_data, "owner": owner}
    if options.get("conversation_id") is not None:
        # Somebody else's (or no) conversation is a 404 before anything streams, queued or not.
        try:
            conversations.conversation_get(owner=owner, conversation_id=options["conversation_id"])
        except conversations.ConversationNotFound:
            return None, JsonResponse({"detail": CONVERSATION_NOT_FOUND}, status=404)
    return options, None


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


@csrf_exempt
@require_POST
async def query_stream(request):
    """POST /query/stream: the answer as server-sent events (see querying.services for the events).

    Validation, the provider's settings and retrieval are checked before the response starts, so
    bad requests get ordinary 4xx JSON; a full queue gets 503 with Retry-After, and a
    conversation_id that is not the asker's 404. Only a question that must wait for a retrieval
    thread starts its stream first (querying.admission). The stream is an async generator over
    the provider's async client: an open stream holds no thread."""
    if await _csrf_refused(request):
        return JsonResponse(
            {"detail": "The page's security token is missing or out of date (CSRF check failed): reload the page and ask again."},
            status=403,
        )
    options, refusal = await run_in(database_pool(), _admit, request)
    if refusal is not None:
        return refusal
    try:
        ticket = retrieval_gate().admit()
    except QueueFull as full:
        return JsonResponse(queue_full_body(full), status=503, headers={"Retry-After": str(full.retry_after)})
    if ticket.queued:
        # Every retrieval thread is busy: the stream starts now, so the client hears at once
        # that it is waiting (and heartbeats while it waits) instead of nothing until it gives up.
        events = _answer_when_admitted(ticket, options)
        weakref.finalize(events, ticket.release)  # a body never read (the client left at once)
    else:
        try:
            plan = await _prepare(options)
        except (LLMError, SearchError) as error:
            http_status, body = error_status_and_body(error)
            return JsonResponse(body, status=http_status)
        except conversations.ConversationNotFound:  # deleted since the check above
            return JsonResponse({"detail": CONVERSATION_NOT_FOUND}, status=404)
        finally:
            ticket.release()
        events = services.answer_events(plan=plan)

    formatter = EventFormatter()
    batches = abatches_with_heartbeat(events, settings.RAGSITE_SSE_HEARTBEAT_SECONDS)

    async def body():
        if ticket.queued:
            yield sse_comment("queued")
        async with aclosing(batches):  # closing the body closes the provider's stream
            async for batch in batches:
                yield b"".join(formatter(item) for item in batch)

    return EventStreamResponse(body())


async def _answer_when_admitted(ticket: Ticket, options: dict) -> AsyncGenerator[dict, None]:
    """The answer's events for a question that waited for a retrieval slot. The response has
    started, so a failure to retrieve is an `error` event, then `done`."""
    waited_from = time.perf_counter()
    failure = plan = None
    try:
        await ticket.wait()
        plan = await _prepare(options)
    except (LLMError, SearchError) as error:
        failure = error_status_and_body(error)[1]
    except conversations.ConversationNotFound:  # deleted while the question waited
        failure = {"error": {"code": "conversation_not_found", "message": CONVERSATION_NOT_FOUND, "retryable": False}}
    except (OperationalError, InterfaceError) as error:
        failure = {"error": {"code": "database_unavailable", "message": f"the database cannot be reached: {error}", "retryable": True}}
    finally:
        ticket.release()
    queued_ms = round((time.perf_counter() - waited_from) * 1000, 2)
    if failure is not None:
        logger.warning("question failed after waiting %.0f ms for retrieval: %s", queued_ms, failure["error"]["message"])
        yield failure
        yield {"done": True, "timings": {"queued": queued_ms}, "usage": {}}
        return
    plan.timings["queued"] = round(queued_ms - plan.timings["retrieval"], 2)
    async with aclosing(services.answer_events(plan=plan)) as events:
        async for item in events:
            yield item
