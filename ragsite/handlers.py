"""The project's ASGI handler (ragsite/asgi.py serves it)."""

from django.core.handlers.asgi import ASGIHandler
from django.urls import Resolver404, resolve

# The views whose requests run their thread-sensitive steps on one long-lived thread (below).
SHARED_THREAD_VIEWS = frozenset({"query-stream"})


class RagsiteASGIHandler(ASGIHandler):
    """Django's ASGI handler, except for the answer stream.

    Django runs each request in a ThreadSensitiveContext: the request's synchronous steps (the
    middleware's hooks, the receivers of the request_started and request_finished signals) run
    in a thread started for that request. Starting it blocks the event loop until the new thread
    has run, and that loop relays every other open stream's tokens: with 200 streams and 20 new
    questions a second, those stalls were most of the latency added to each token (bench/load.py:
    p95 about 100 ms with them, about 35 ms without). The answer stream's view is async and does
    its database work in threads of its own (querying.executor), so its few synchronous steps run on
    asgiref's one shared thread instead: no thread per request. Every other view (the admin, the
    DRF API, the page) is served as Django serves it."""

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and _view_name(scope) in SHARED_THREAD_VIEWS:
            await self.handle(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def _view_name(scope) -> str | None:
    path = scope["path"].removeprefix(scope.get("root_path", ""))
    try:
        return resolve(path).url_name
    except Resolver404:
        return None
