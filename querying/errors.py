"""A question's failures as the asker sees them, in one shape, {"error": {"code", "message",
"retryable"}}: POST /query's error answers, the stream's refusals before it starts, and its
`error` event once it has started. A conversation that is not the asker's is a 404 like any
other object that is not theirs, {"detail": ...}."""

from __future__ import annotations

from django.db import InterfaceError, OperationalError

from documents.readable import CollectionNotFound
from documents.search.errors import SearchError
from querying.conversations import ConversationNotFound
from querying.executor import Busy
from querying.llm.base import LLMError

CONVERSATION_NOT_FOUND = "No conversation of yours has this id."

# What a question can fail on before its answer starts; a database that cannot be reached is
# access.middleware's 503 there. Anything else is a bug (a 500).
FAILURES = (LLMError, SearchError, ConversationNotFound, CollectionNotFound, Busy)
# ...and once a stream has started, as its `error` event.
STREAM_FAILURES = (*FAILURES, OperationalError, InterfaceError)


def error(code: str, message: str, retryable: bool) -> dict:
    return {"code": code, "message": message, "retryable": retryable}


def failure(exc: Exception) -> tuple[int, dict]:
    """The HTTP status and the error of a failure to answer: 503 when trying again later may help
    (a provider that timed out or is rate-limited, no search index yet, a full queue, the database
    restarting), 502 when the provider refused, 404 for a conversation that is not the asker's or a
    collection they may not read."""
    if isinstance(exc, LLMError):
        return (503 if exc.retryable else 502), error(exc.code, exc.message, exc.retryable)
    if isinstance(exc, SearchError):
        return 503, error("search_unavailable", str(exc), True)
    if isinstance(exc, Busy):
        return 503, error("busy", exc.message, True)
    if isinstance(exc, ConversationNotFound):
        return 404, error("conversation_not_found", CONVERSATION_NOT_FOUND, False)
    if isinstance(exc, CollectionNotFound):  # unknown and unreadable alike: the asker's own slug, nothing more
        return 404, error("collection_not_found", str(exc), False)
    if isinstance(exc, (OperationalError, InterfaceError)):
        return 503, error("database_unavailable", f"the database cannot be reached: {exc}", True)
    raise TypeError(f"{type(exc).__name__} is no answer failure") from exc


def failure_response(exc: Exception) -> tuple[int, dict, dict]:
    """(status, JSON body, headers) of a failure answered before any answer goes out."""
    status, detail = failure(exc)
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, Busy) else {}
    body = {"detail": detail["message"]} if status == 404 else {"error": detail}
    return status, body, headers
