"""What every request goes through: an id that ties its log lines together, JSON errors under
the API's paths whatever DEBUG says, a JSON 503 (not a 500 with a traceback) while the database
cannot be reached, and static files served without a thread hop for the requests that are not
for one."""

from __future__ import annotations

import logging
import re
import uuid
from contextvars import ContextVar

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings as django_settings
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.utils.deprecation import MiddlewareMixin
from whitenoise.middleware import WhiteNoiseMiddleware

from access.bodies import CHUNKED_UNREAD, TOO_LARGE, body_limit, declared_length, is_api_path, refusal

logger = logging.getLogger("access.requests")

REQUEST_ID_HEADER = "X-Request-ID"
# A client's (or a proxy's) own id is kept when it is short and plain: it lands in log lines.
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# The id of the request this code runs for; "-" outside any request (a worker, a command).
# Tasks and threads started for a request (the answer stream, asyncio.to_thread) copy it.
current_request_id: ContextVar[str] = ContextVar("current_request_id", default="-")

DATABASE_RETRY_AFTER_SECONDS = 5


def request_id_from(value: str | None) -> str:
    """The client's X-Request-ID if it is a sane one, else a new random id."""
    if value and _SANE_ID.fullmatch(value):
        return value
    return uuid.uuid4().hex


class RequestIdLogFilter(logging.Filter):
    """Puts the current request's id on every record as `request_id` (LOGGING's handlers use it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id.get()
        return True


class ResponseMiddleware:
    """A middleware with a hook before the view (start: a response there answers in the view's
    place) and one on its response (finish), sync and async alike, without a hop to a thread (it
    is on the path of every answer stream)."""

    sync_capable = async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self._acall(request)
        return self.finish(request, self.start(request) or self.get_response(request))

    async def _acall(self, request):
        return self.finish(request, self.start(request) or await self.get_response(request))

    def start(self, request) -> HttpResponse | None:
        return None

    def finish(self, request, response):
        return response


class RequestIdMiddleware(ResponseMiddleware):
    """Takes the request's X-Request-ID (or makes one), answers with it, and sets it for the log
    lines written while the request runs, its answer stream included. Not reset at the end: a
    streamed body is read after this returns, and each request sets its own."""

    def start(self, request) -> None:
        request.request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
        current_request_id.set(request.request_id)

    def finish(self, request, response):
        response[REQUEST_ID_HEADER] = request.request_id
        return response


# What a JSON error says when whoever refused said it in HTML; other statuses say their reason.
API_ERROR_DETAILS = {404: "Not found.", 500: "A server error occurred."}
# Headers a client acts on, kept when an error is answered again as JSON.
API_ERROR_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")


def api_error_as_json(request, response):
    """The response, or, when it is an error under the API's paths in anything but JSON, a JSON
    {"detail": ...} of the same status that says no more than the status does."""
    if response.status_code < 400 or not is_api_path(request.path):
        return response
    if response.get("Content-Type", "").startswith("application/json"):
        return response
    if response.status_code == 405:
        detail = f'Method "{request.method}" not allowed.'  # as the DRF views say it
    else:
        detail = API_ERROR_DETAILS.get(response.status_code) or f"{response.reason_phrase}."
    answer = JsonResponse({"detail": detail}, status=response.status_code)
    for header in API_ERROR_HEADERS:
        if header in response:
            answer[header] = response[header]
    answer.cookies = response.cookies
    response.close()
    return answer


class ApiErrorsMiddleware(ResponseMiddleware):
    """Every error under /api/, /query and /files/ is JSON, whoever answered it: a path no URL
    matches and an unhandled exception (Django's debug pages with DEBUG on, its plain pages with
    it off), a plain view's 405. A 500's traceback goes to the log (django.request), never to
    the client. Pages for people keep Django's pages."""

    def finish(self, request, response):
        return api_error_as_json(request, response)


def database_unavailable_response(request) -> HttpResponse:
    message = "The database cannot be reached right now; try again in a few seconds."
    if is_api_path(request.path):
        response = JsonResponse({"detail": message, "code": "database_unavailable"}, status=503)
    else:
        response = HttpResponse(message, status=503, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
    return response


class DatabaseUnavailableMiddleware(MiddlewareMixin):
    """A view that fails because the database is down or restarting answers 503 with Retry-After.
    Django drops a broken connection at the end of the request, so the next one reconnects: the
    app recovers by itself once the database is back."""

    def process_exception(self, request, exception):
        if not isinstance(exception, (OperationalError, InterfaceError)):
            return None
        logger.warning("database unavailable for %s %s: %s", request.method, request.path, exception)
        return database_unavailable_response(request)


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    """WhiteNoise, async-capable. WhiteNoise's own middleware is sync-only, so under ASGI Django
    ran it, and every middleware and view after it, behind a thread of the request's own that
    stayed parked until the view returned (for a question: until retrieval was done). Here a
    request that is not for a static file passes on the event loop; only serving a file (reading
    from disk) goes to a thread."""

    sync_capable = async_capable = True

    def __init__(self, get_response=None, settings=django_settings):
        super().__init__(get_response, settings)
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self._acall(request)
        return super().__call__(request)

    async def _acall(self, request):
        if self.autorefresh:  # DEBUG: looks on disk, so not on the event loop
            static_file = await sync_to_async(self.find_file, thread_sensitive=False)(request.path_info)
        else:
            static_file = self.files.get(request.path_info)
        if static_file is not None:
            return await sync_to_async(self.serve, thread_sensitive=False)(static_file, request)
        return await self.get_response(request)


class RequestBodyLimitMiddleware(ResponseMiddleware):
    """Refuses a body past body_limit() from its Content-Length, before it is read and before the
    middleware after it (sessions, authentication) cost anything; and a chunked body that arrives
    without a length (WSGI servers hand Django none, which read it as empty) with 411 and why.
    Under ASGI limit_request_bodies() has already refused or measured the body."""

    def start(self, request) -> HttpResponse | None:
        path = request.path_info
        length = declared_length(request.META.get("CONTENT_LENGTH"))
        limit = body_limit(path)
        if length is not None and limit is not None and length > limit:
            status, message = 413, TOO_LARGE
        elif length is None and "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
            status, message = 411, CHUNKED_UNREAD
        else:
            return None
        content_type, body = refusal(path, status, message)
        return HttpResponse(body, status=status, content_type=content_type.decode())
