"""The one interface every answer provider implements, and the one error type they raise.

A provider receives a Prompt (querying.prompts) and a Usage to fill, and writes the answer:

    class MyProvider(LLMProvider):
        name = "my-vendor:model"

        async def stream(self, prompt: Prompt, usage: Usage) -> AsyncIterator[str]:
            async for text in my_sdk.stream(system=prompt.system, messages=prompt.messages):
                yield text
            usage["input_tokens"], usage["output_tokens"] = ...   # optional

- `prompt.system`: the rules and the numbered sources, as one system prompt.
- `prompt.messages`: [{"role": "user" | "assistant", "content": str}, ...]; the last one is the
  user's question, verbatim (`prompt.question`).
- `prompt.search_query`: the standalone query the passages were found with: a follow-up in a
  conversation rewritten with its subject (querying.rewrite); "" when it is the question itself.
  The messages before the question are the conversation's earlier turns, bounded.
- `prompt.passages`: the retrieved passages (querying.prompts.Passage), numbered as the system
  prompt numbers them. Model-backed providers need not read them; the extractive provider
  answers from them.
- `usage`: a dict the provider may fill, once the stream ends, with what the call cost
  ({"input_tokens": int, "output_tokens": int}); left empty, the service estimates the figures.

`stream` is the only method to write. It runs on the event loop: a provider whose work blocks
(a sync SDK, heavy computation) runs it in a thread (`asyncio.to_thread`). Closing or cancelling
the stream (a client that goes away) must close the upstream call. `generate` (POST /query)
collects the stream.

Errors: providers raise LLMError (never an SDK exception); `retryable` says whether trying the
same call again later may succeed (timeouts, rate limits, overloaded servers), `code` is a short
machine-readable name that the API and the SSE `error` event expose.
"""

from __future__ import annotations

import asyncio
from typing import AsyncIterator, TypedDict

from asgiref.sync import async_to_sync

from querying.prompts import Passage, Prompt

__all__ = ["LLMError", "LLMProvider", "Passage", "Prompt", "Usage"]

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


class Usage(TypedDict, total=False):
    """What one answer cost, as the provider reports it."""

    input_tokens: int
    output_tokens: int


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


def error_for_timeout(exc: BaseException, provider: str, timeout: float, *, mid_answer: bool = False) -> LLMError:
    """The LLMError for an SDK's timeout error. The aiohttp transport reports a connection that
    was refused as a connect *timeout*; the OSError behind it says what really happened."""
    cause = exc
    while cause is not None:
        if isinstance(cause, OSError) and not isinstance(cause, TimeoutError):
            return connection_error(provider, cause, mid_answer=mid_answer)
        cause = cause.__cause__ or cause.__context__
    return LLMError(f"{provider} did not answer within {timeout:g} s", retryable=True, code="timeout")


def error_for_transport(exc: BaseException, provider: str, *, mid_answer: bool = False) -> LLMError | None:
    """An LLMError for a network failure that an SDK let through unwrapped, recognised by the
    exception's class names (so this module imports no HTTP library); None if it is not one."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    if any("Timeout" in name for name in names):
        return LLMError(f"{provider} did not answer in time", retryable=True, code="timeout")
    if names & {"ConnectError", "NetworkError", "ReadError", "RemoteProtocolError", "TransportError"}:
        return connection_error(provider, exc, mid_answer=mid_answer)
    return None


def incomplete_answer(provider: str) -> LLMError:
    """The stream ended (the connection closed) before the vendor's end marker: what came may be
    only the start of the answer, so it is not passed off as a complete one."""
    return LLMError(
        f"{provider} stopped before the end of its answer (the stream closed without its end marker)",
        retryable=True,
        code="incomplete_answer",
    )


def connection_error(provider: str, exc: BaseException, *, mid_answer: bool) -> LLMError:
    """A network failure: before any output the provider could not be reached; after some, the
    connection to it was lost."""
    if mid_answer:
        return LLMError(f"lost the connection to {provider} mid-answer: {exc}", retryable=True, code="connection_error")
    return LLMError(f"cannot reach {provider}: {exc}", retryable=True, code="connection_error")


class LLMProvider:
    """Base class of answer providers. Subclasses implement `stream`; `generate` follows from it.

    Every provider takes these OPTIONS, how much of a question's prompt each part may take (the
    class attributes below are the defaults)."""

    name = "llm"
    quotes = False  # True: the answers are sentences quoted from the passages, written by no model
    context_tokens = 3000  # the retrieved passages, the rules and the question
    history_tokens = 1000  # a conversation's earlier turns the model sees, newest first...
    history_turns = 6  # ...at most this many of them
    rewrite_seconds = 5.0  # how long a follow-up's search query may take the model (querying.conversations)

    def __init__(self, **budgets):
        unknown = set(budgets) - {"context_tokens", "history_tokens", "history_turns", "rewrite_seconds"}
        if unknown:
            raise TypeError(f"unexpected options: {', '.join(sorted(unknown))}")
        self.__dict__.update(budgets)

    async def stream(self, prompt: Prompt, usage: Usage) -> AsyncIterator[str]:
        """The answer in pieces, as the model writes it."""
        raise NotImplementedError
        yield  # pragma: no cover (makes this an async generator, as subclasses are)

    def generate(self, prompt: Prompt, usage: Usage) -> str:
        """The whole answer at once, from a thread with no running event loop (a sync view)."""

        async def collect() -> str:
            return "".join([piece async for piece in self.stream(prompt, usage)])

        return async_to_sync(collect)()

    def warm_up(self) -> None:
        """Load now what the first answer would otherwise wait for (a web process starts)."""


# The most connections one client opens to its vendor (answers streaming at once from one web
# process), and how many it keeps open between answers: the openai and anthropic SDKs' defaults.
# Groq's SDK allows 100, and an answer beyond them waited for another to end.
MAX_CONNECTIONS = 1000
MAX_KEEPALIVE_CONNECTIONS = 100


class VendorProvider(LLMProvider):
    """What the vendor SDK providers share: the settings every one reads, and one async SDK client
    per event loop (a client's connection pool belongs to the loop that opened it). Subclasses
    set `vendor`, `sdk` (the SDK's module) and `async_client_class`, and call
    `await self._async_client()` in `stream`."""

    vendor = ""
    sdk = None
    async_client_class = None

    def __init__(
        self,
        model: str,
        api_key: str = "",
        base_url: str = "",
        temperature: float = 0.2,
        max_tokens: int = 800,  # always bounds generation
        timeout: float = 60.0,  # seconds to connect, and between two pieces of a stream
        max_retries: int = 2,  # before the first token only
        **budgets,
    ):
        super().__init__(**budgets)
        if not model:
            raise LLMError(f"no model configured for {self.vendor} (set RAGSITE_LLM_MODEL)", code="not_configured")
        self.model = model
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.timeout = timeout
        self.name = f"{self.vendor}:{model}"
        self._client_options = {
            # The SDKs refuse to start without a key; local OpenAI-compatible servers take any.
            "api_key": api_key or None,
            "base_url": base_url or None,
            "timeout": timeout,
            "max_retries": max_retries,
        }
        self.make_async_client()  # a bad setting (no key) fails here, before any stream starts

    def make_async_client(self):
        """A new client on aiohttp (the SDK's own `DefaultAioHttpClient`); LLMError("not_configured")
        when the SDK refuses the options.

        aiohttp, not the SDKs' default httpx transport: that one arms and disarms an anyio
        cancel scope around every read of the socket, and with 200 answers streaming it spent
        twice the CPU per token (bench/load.py, README "Benchmarks"), time every other stream's
        tokens waited behind on the one event loop."""
        try:
            limits = type(self.sdk.DEFAULT_CONNECTION_LIMITS)(
                max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_KEEPALIVE_CONNECTIONS
            )
            http_client = self.sdk.DefaultAioHttpClient(limits=limits)
            return self.async_client_class(**self._client_options, http_client=http_client)
        except Exception as exc:  # the SDK's "api_key must be set" and the like
            raise LLMError(f"cannot set up {self.vendor}: {exc} (see RAGSITE_LLM_API_KEY)", code="not_configured") from exc

    async def _async_client(self):
        """This event loop's client (its connections belong to the loop that opened them), made on
        first use. It is closed when the loop shuts down (see `_clients_closed_with_loop`)."""
        loop = asyncio.get_running_loop()
        opened = _loop_clients.get(loop)
        if opened is None:
            opened = _loop_clients[loop] = _LoopClients(loop)
            await anext(opened.guard)
        client = opened.clients.get(self)
        if client is None:
            client = opened.clients[self] = self.make_async_client()
        return client


class _LoopClients:
    """The SDK clients opened on one event loop, and the async generator that closes them."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.clients: dict[VendorProvider, object] = {}
        self.guard = _clients_closed_with_loop(loop, self.clients)


async def _clients_closed_with_loop(loop: asyncio.AbstractEventLoop, clients: dict) -> AsyncIterator[None]:
    """Started once per event loop and left suspended: a loop that shuts down (asyncio.run,
    asgiref's loop for a sync answer, a WSGI stream's loop, uvicorn stopping) closes the async
    generators still open on it, and this one then closes the loop's clients and their
    connections, instead of leaving them to warn "Unclosed client session" when collected."""
    try:
        yield
    finally:
        # Started, the generator holds the loop (its finalizer), so the entry must go by hand.
        _loop_clients.pop(loop, None)
        for client in clients.values():
            await client.close()


# event loop -> its clients, until the loop shuts down (not weak: the guard holds its loop anyway)
_loop_clients: dict[asyncio.AbstractEventLoop, _LoopClients] = {}
