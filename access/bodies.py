"""How big a request body may be, and its refusal before any of it is read.

A body past its limit is refused from its Content-Length, before it is read and before anything
is asked of the database (a session, an API key): a 500 MB body used to be spooled to a temp
file, and an anonymous 300 MB question read whole, before their 413 or 401. Uploads may be
RAGSITE_MAX_UPLOAD_MB (and the multipart framing around the file); every other body
DATA_UPLOAD_MAX_MEMORY_SIZE.

Two places apply the one rule, body_limit(). Under ASGI (uvicorn) Django's handler reads the
whole body into a temp file before any middleware runs, so limit_request_bodies() wraps the ASGI
application: it answers from Content-Length without reading, and stops a chunked body (one with
no Content-Length) at its first bytes past the limit. Under WSGI and the test client the body is
read lazily, and RequestBodyLimitMiddleware refuses from Content-Length in time."""

from __future__ import annotations

import asyncio
import json
from functools import lru_cache

from django.conf import settings
from django.http import HttpResponse
from django.urls import NoReverseMatch, reverse

# Room for the multipart framing around an upload's file: boundaries, part headers, the title.
UPLOAD_OVERHEAD_BYTES = 1024 * 1024
TOO_LARGE = "The request body is larger than this server accepts."
# How long a refused body that is arriving is read and dropped before the refusal (_drain_arriving).
DRAIN_SECONDS = 2.0
DRAIN_PAUSE_SECONDS = 0.2
CHUNKED_UNREAD = (
    "A body sent in chunks, without Content-Length, is not read by this server: send its Content-Length."
)


@lru_cache(maxsize=1)
def upload_paths() -> frozenset[str]:
    """The paths that take a PDF: the document API and the admin's upload form."""
    paths = set()
    for name in ("document-list", "admin:documents_document_add"):
        try:
            paths.add(reverse(name))
        except NoReverseMatch:  # a URLconf without the admin
            pass
    return frozenset(paths)


def body_limit(path: str) -> int | None:
    """The most bytes a request body to `path` may have; None: no limit."""
    if path in upload_paths():
        return settings.RAGSITE_MAX_UPLOAD_MB * 1024 * 1024 + UPLOAD_OVERHEAD_BYTES
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def is_api_path(path: str) -> bool:
    """Whether the path is the JSON API's, whose refusals are JSON; people elsewhere get text.
    The stored PDFs (documents.storage.FILES_URL) are fetched by the page and by clients alike."""
    return path.startswith(("/api/", "/query", "/files/"))


def refusal(path: str, status: int, message: str) -> tuple[bytes, bytes]:
    """(content type, body) of a refusal: JSON for the API, plain text for people."""
    if is_api_path(path):
        return b"application/json", json.dumps({"detail": message}).encode()
    limit = body_limit(path)
    if status == 413 and limit:
        message = f"{message} At most {limit / 1024 / 1024:.0f} MB may be sent here in one request."
    return b"text/plain; charset=utf-8", message.encode()


def declared_length(value: str | bytes | None) -> int | None:
    """A Content-Length as a number; None when there is none (or it is no number: Django's to refuse)."""
    try:
        return int(value) if value not in (None, "", b"") else None
    except ValueError:
        return None


def limit_request_bodies(application):
    """The ASGI application, with bodies past body_limit() refused before Django reads them.

    A Content-Length past the limit is answered 413 with nothing kept (what is arriving is
    dropped first: _drain_arriving). A chunked body (no
    Content-Length) is counted as it arrives: at its first bytes past the limit Django is told the
    client left (so it stops spooling and drops what it had) and the client gets the 413; within
    the limit, Django is given its length as Content-Length once it is all in, as a proxy that
    buffers it would (Django's handler builds the request after reading the body; without a
    length, DRF reads a body as empty)."""

    async def limited(scope, receive, send):
        if scope["type"] != "http":
            return await application(scope, receive, send)
        path = scope["path"].removeprefix(scope.get("root_path", ""))
        limit = body_limit(path)
        headers = dict(scope.get("headers") or [])
        length = declared_length(headers.get(b"content-length"))
        chunked = length is None and b"transfer-encoding" in headers  # HTTP/1.1: no length, no body
        if limit is None or not (chunked or (length is not None and length > limit)):
            return await application(scope, receive, send)
        if not chunked:
            await _drain_arriving(receive)
            return await _send_refusal(send, path, 413, TOO_LARGE)
        scope = dict(scope)
        counted = _CountedBody(scope, receive, limit)
        await application(scope, counted.receive, send)
        if counted.over:
            await _send_refusal(send, path, 413, TOO_LARGE)

    limited.limits_bodies = True
    return limited


class _CountedBody:
    """An ASGI receive() that counts a body without a length against its limit."""

    def __init__(self, scope: dict, receive, limit: int):
        self.scope, self._receive, self.limit = scope, receive, limit
        self.received = 0
        self.over = False

    async def receive(self):
        if self.over:
            return {"type": "http.disconnect"}
        message = await self._receive()
        if message["type"] != "http.request":
            return message
        self.received += len(message.get("body", b""))
        if self.received > self.limit:
            self.over = True
            return {"type": "http.disconnect"}  # Django stops reading and answers nothing
        if not message.get("more_body", False):
            self.scope["headers"] = [
                *((name, value) for name, value in self.scope.get("headers", []) if name != b"transfer-encoding"),
                (b"content-length", str(self.received).encode()),
            ]
        return message


async def _drain_arriving(receive) -> None:
    """Drop what of a refused body is arriving now, for at most DRAIN_SECONDS, stopping at the
    first pause of DRAIN_PAUSE_SECONDS: nothing is kept. A proxy in front (nginx) has the whole
    body and sends it at once; a server that answers and closes with it unread resets the
    connection, and nginx answers 502 (HTML) instead of passing the 413 on. A client that sends
    nothing yet (it waits for the answer) gets it after the pause."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DRAIN_SECONDS
    while (left := deadline - loop.time()) > 0:
        try:
            message = await asyncio.wait_for(receive(), min(left, DRAIN_PAUSE_SECONDS))
        except asyncio.TimeoutError:
            return
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


async def _send_refusal(send, path: str, status: int, message: str) -> None:
    content_type, body = refusal(path, status, message)
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", content_type),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),  # what is left of the body is not read
        ],
    })
    await send({"type": "http.response.body", "body": body})
