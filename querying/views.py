import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.db import connections
from django.http import JsonResponse, StreamingHttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from documents.search import SearchError
from querying import services
from querying.api import QueryInputSerializer, error_status_and_body
from querying.llm.base import LLMError
from querying.sse import EventFormatter, abatches_with_heartbeat, iter_with_heartbeat

logger = logging.getLogger(__name__)

_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def _retrieval_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(settings.RAGSITE_RETRIEVAL_THREADS, thread_name_prefix="ragsite-retrieval")
        return _pool


def _prepare_in_pool(**options):
    """answer_prepare in a retrieval pool thread, then close that thread's database connections,
    as the end of a request would (nothing else closes them)."""
    try:
        return services.answer_prepare(**options)
    finally:
        connections.close_all()


async def _prepare(request, options: dict):
    if isinstance(request, ASGIRequest):
        # Not in Django's thread-sensitive executor: under ASGI that lends each request a thread
        # that stays parked until the request ends, i.e. for the whole stream, and retrieval
        # (torch, numpy) leaves megabytes of per-thread memory behind in it.
        return await sync_to_async(_prepare_in_pool, thread_sensitive=False, executor=_retrieval_pool())(**options)
    # Under WSGI the request has its thread anyway: retrieval runs there.
    return await sync_to_async(services.answer_prepare)(**options)


def _csrf_failure(request) -> str | None:
    """CSRF rides on cookies: a request that carries any (a browser's) must bring the token, as
    the ask page does; a client with no cookies (curl, an SDK) has no ambient authority to abuse
    and streams without one, as it does from POST /query."""
    if not request.COOKIES:
        return None
    check = CsrfViewMiddleware(lambda request: None)
    check._reject = lambda request, reason: reason
    check.process_request(request)
    return check.process_view(request, None, (), {})


@csrf_exempt
@require_POST
async def query_stream(request):
    """POST /query/stream: the answer as server-sent events (see querying.services for the events).

    Validation, the provider's settings and retrieval are checked before the response starts, so
    bad requests get ordinary 4xx JSON. Under ASGI the stream is an async generator over the
    provider's async client (no thread per open stream); under WSGI a blocking one."""
    reason = _csrf_failure(request)
    if reason:
        logger.info("query stream refused: CSRF check failed: %s", reason)
        return JsonResponse(
            {"detail": "The page's security token is missing or out of date (CSRF check failed): reload the page and ask again."},
            status=403,
        )
    try:
        payload = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        return JsonResponse({"non_field_errors": ["The body must be JSON."]}, status=400)
    if not isinstance(payload, dict):
        return JsonResponse({"non_field_errors": ["The body must be a JSON object."]}, status=400)
    serializer = QueryInputSerializer(data=payload)
    if not serializer.is_valid():
        return JsonResponse(serializer.errors, status=400)
    try:
        plan = await _prepare(request, serializer.validated_data)
    except (LLMError, SearchError) as error:
        http_status, body = error_status_and_body(error)
        return JsonResponse(body, status=http_status)

    interval = settings.RAGSITE_SSE_HEARTBEAT_SECONDS
    formatter = EventFormatter()
    if isinstance(request, ASGIRequest):

        async def body():
            async for batch in abatches_with_heartbeat(services.answer_aevents(plan=plan), interval):
                yield b"".join(formatter(item) for item in batch)

    else:

        def body():
            for item in iter_with_heartbeat(services.answer_events(plan=plan), interval):
                yield formatter(item)

    response = StreamingHttpResponse(body(), content_type="text/event-stream; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx and friends: pass each event on at once
    return response
