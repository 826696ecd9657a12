"""The one interface every answer provider implements, and the one error type they raise.

A provider turns a system prompt and chat messages into text:

    provider.name                                  # "openai:gpt-4o-mini", "extractive", ...
    provider.generate(system, messages) -> str
    provider.stream(system, messages) -> Iterator[str]
    provider.astream(system, messages) -> AsyncIterator[str]

`messages` is a list of {"role": "user" | "assistant", "content": str}; the last one is the
user's question, verbatim (querying.prompts puts the numbered sources in the system prompt).

Optional keywords. The answer service may pass two more keywords, and passes each one only to a
method whose signature accepts it (or **kwargs), so a provider that defines just
`stream(self, system, messages)` works everywhere:

- `sources`: the retrieved passages, a list of querying.prompts.Passage, numbered as in the
  prompt. Model-backed providers ignore it (the passages are already in the system prompt); the
  extractive provider answers from it.
- `usage`: a dict the provider may fill with what the call cost, {"input_tokens": int,
  "output_tokens": int}, once the stream ends. The service estimates the figures when it is left
  empty.

`astream`'s base implementation runs `stream` in a worker thread of its own (one per open stream)
and closes the sync generator there when the consumer goes away; vendor providers override it
with their SDK's async client, so an open stream holds no thread.

Errors: providers raise LLMError (never an SDK exception); `retryable` says whether trying the
same call again later may succeed (timeouts, rate limits, overloaded servers), `code` is a short
machine-readable name that the API and the SSE `error` event expose.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
import weakref
from typing import AsyncIterator, Iterator

HTTP_STATUS_CODES = {
    400: ("bad_request", False),
    401: ("auth_error", False),
    403: ("permission_denied", False),
    404: ("not_found", False),
    408: ("timeout", True),
    409: ("conflict", True),
    413: ("request_too_large", False),
    422: ("bad_request", False),
    429: ("rate_limited", True),
}


class LLMError(Exception):
    """A provider call failed. `retryable`: trying again later may work. `code`: short name."""

    def __init__(self, message: str, *, retryable: bool = False, code: str = "provider_error"):
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.code = code

    def __repr__(self):
        return f"LLMError({self.message!r}, retryable={self.retryable}, code={self.code!r})"


def error_for_status(status: int | None, message: str) -> LLMError:
    """The LLMError for an HTTP error status from a provider: 429 and 5xx are worth retrying."""
    if status in HTTP_STATUS_CODES:
        code, retryable = HTTP_STATUS_CODES[status]
    elif status is not None and status >= 500:
        code, retryable = "provider_unavailable", True
    else:
        code, retryable = "provider_error", False
    return LLMError(message, retryable=retryable, code=code)


def error_for_transport(exc: BaseException, provider: str) -> LLMError | None:
    """An LLMError for a network failure that an SDK let through unwrapped, recognised by the
    exception's class names (so this module imports no HTTP library); None if it is not one."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    if any("Timeout" in name for name in names):
        return LLMError(f"{provider} did not answer in time", retryable=True, code="timeout")
    if names & {"ConnectError", "NetworkError", "ReadError", "RemoteProtocolError", "TransportError"}:
        return LLMError(f"lost the connection to {provider}: {exc}", retryable=True, code="connection_error")
    return None


@functools.lru_cache(maxsize=256)
def _accepted(func) -> tuple[frozenset, bool]:
    try:
        parameters = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return frozenset(), False
    names = frozenset(p.name for p in parameters if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD))
    return names, any(p.kind is p.VAR_KEYWORD for p in parameters)


class AsyncClientPerLoop:
    """One async SDK client per event loop (a client's connection pool belongs to the loop that
    opened it). Vendor providers call `self._async_client()` with `make_async_client` set."""

    def make_async_client(self):
        raise NotImplementedError

    def _async_client(self):
        clients = self.__dict__.setdefault("_async_clients", weakref.WeakKeyDictionary())
        loop = asyncio.get_running_loop()
        client = clients.get(loop)
        if client is None:
            client = clients[loop] = self.make_async_client()
        return client


def supported_kwargs(method, kwargs: dict) -> dict:
    """The part of kwargs that `method` accepts (see "Optional keywords" above)."""
    func = getattr(method, "__func__", method)
    names, var_keyword = _accepted(func)
    if var_keyword:
        return dict(kwargs)
    return {key: value for key, value in kwargs.items() if key in names}


_TOKEN, _END, _FAILED = "token", "end", "failed"


class LLMProvider:
    """Base class of answer providers. Subclasses implement `stream`; the rest follows from it."""

    name = "llm"

    def generate(self, system: str, messages: list[dict], **kwargs) -> str:
        """The whole answer at once."""
        return "".join(self.stream(system, messages, **supported_kwargs(self.stream, kwargs)))

    def stream(self, system: str, messages: list[dict], **kwargs) -> Iterator[str]:
        """The answer in pieces, as the model writes it. Closing the generator closes the upstream call."""
        raise NotImplementedError

    async def astream(self, system: str, messages: list[dict], **kwargs) -> AsyncIterator[str]:
        """`stream` run in a worker thread; closing this generator stops the thread's stream after
        its next piece and closes it there."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        stop = threading.Event()
        call_kwargs = supported_kwargs(self.stream, kwargs)

        def put(item):
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop has closed: nobody is listening any more
                stop.set()

        def produce():
            pieces = None
            try:
                pieces = self.stream(system, messages, **call_kwargs)
                for piece in pieces:
                    if stop.is_set():
                        break
                    put((_TOKEN, piece))
            except BaseException as exc:  # handed to the consumer, which re-raises it
                put((_FAILED, exc))
            else:
                put((_END, None))
            finally:
                close = getattr(pieces, "close", None)
                if close is not None:
                    close()

        worker = threading.Thread(target=produce, name=f"llm-stream-{self.name}", daemon=True)
        worker.start()
        try:
            while True:
                kind, value = await queue.get()
                if kind == _TOKEN:
                    yield value
                elif kind == _END:
                    return
                else:
                    raise value
        finally:
            stop.set()
