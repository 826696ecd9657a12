"""What the OpenAI and Groq providers share: both SDKs speak the chat-completions wire format
and raise the same family of exceptions. This module imports no SDK; each subclass names its own."""

from __future__ import annotations

from typing import AsyncIterator

from querying.llm.base import LLMError, Prompt, Usage, VendorProvider, connection_error, error_for_status
from querying.llm.base import error_for_timeout, error_for_transport, incomplete_answer

# Error types that a provider sends inside a stream and that may pass if tried again.
RETRYABLE_STREAM_ERRORS = {"server_error", "overloaded", "overloaded_error", "rate_limit_exceeded", "timeout"}


class ChatCompletionsProvider(VendorProvider):
    """A provider for a `chat.completions.create(stream=True)` API. Subclasses set `vendor` and
    the SDK's `sdk` module and `async_client_class`."""

    vendor = "openai"

    def __init__(self, model: str, stream_usage: bool = True, **options):
        self.stream_usage = stream_usage
        super().__init__(model, **options)

    def _request(self, prompt: Prompt) -> dict:
        request = {
            "model": self.model,
            "messages": [{"role": "system", "content": prompt.system}, *prompt.messages],
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "stream": True,
        }
        if self.stream_usage:
            request["stream_options"] = {"include_usage": True}
        return request

    # The chunks are read as the JSON objects the vendor sent, not as the SDK's models: building a
    # ChatCompletionChunk for each token took over a third of a web process's event loop with 200
    # answers streaming (bench/load.py), time every other stream's tokens waited behind.
    @staticmethod
    def _record_usage(chunk: dict, usage: Usage) -> None:
        found = chunk.get("usage") or (chunk.get("x_groq") or {}).get("usage")
        if found:
            usage["input_tokens"] = found.get("prompt_tokens")
            usage["output_tokens"] = found.get("completion_tokens")

    @staticmethod
    def _text(chunk: dict) -> str:
        choices = chunk.get("choices")
        if not choices:  # the closing usage chunk has none
            return ""
        return (choices[0].get("delta") or {}).get("content") or ""

    @staticmethod
    def _finished(chunk: dict) -> bool:
        """Whether the chunk carries a finish_reason: the answer's end, sent just before [DONE]
        (which the SDK reads but does not pass on)."""
        return any(choice.get("finish_reason") for choice in chunk.get("choices") or ())

    def _error(self, exc: Exception, *, mid_answer: bool = False) -> LLMError:
        sdk, vendor = self.sdk, self.vendor
        if isinstance(exc, sdk.APITimeoutError):
            return error_for_timeout(exc, vendor, self.timeout, mid_answer=mid_answer)
        if isinstance(exc, sdk.APIConnectionError):  # the SDK wraps a read that failed mid-stream too
            return connection_error(vendor, exc.__cause__ or exc, mid_answer=mid_answer)
        if isinstance(exc, sdk.APIStatusError):
            return error_for_status(exc.status_code, f"{vendor} refused the request ({exc.status_code}): {exc.message}")
        if isinstance(exc, sdk.APIError):  # an error event inside a stream that had started
            body = exc.body if isinstance(exc.body, dict) else {}
            kind = str(body.get("type") or body.get("code") or "")
            return LLMError(
                f"{vendor} stopped mid-answer: {exc.message}",
                retryable=kind in RETRYABLE_STREAM_ERRORS,
                code="provider_unavailable" if kind in RETRYABLE_STREAM_ERRORS else "provider_error",
            )
        transport = error_for_transport(exc, vendor, mid_answer=mid_answer)
        if transport is not None:
            return transport
        return LLMError(f"{vendor} failed: {exc}", code="provider_error")

    async def stream(self, prompt: Prompt, usage: Usage) -> AsyncIterator[str]:
        response = None
        started = finished = False
        try:
            # The SDK's own request (retries, timeout, status errors) and stream (server-sent events,
            # error events), with each chunk handed over as its JSON object (cast_to=object).
            response = await (await self._async_client()).post(
                "/chat/completions", body=self._request(prompt), cast_to=object, stream=True,
                stream_cls=self.sdk.AsyncStream[object],
            )
            async for chunk in response:
                if not isinstance(chunk, dict):
                    raise LLMError(f"{self.vendor} sent a stream event that is not a JSON object: {chunk!r:.200}",
                                   code="provider_error")
                self._record_usage(chunk, usage)
                finished = finished or self._finished(chunk)
                text = self._text(chunk)
                if text:
                    started = True
                    yield text
        except LLMError:
            raise
        except Exception as exc:
            raise self._error(exc, mid_answer=started) from exc
        finally:
            if response is not None:
                await response.close()  # a reader that stops early must not leave the model writing
        if not finished:
            raise incomplete_answer(self.vendor)
