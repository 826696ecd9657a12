"""Anthropic, through `client.messages.stream(...)` as a context manager over `text_stream`."""

from __future__ import annotations

from typing import AsyncIterator

import anthropic

from querying.llm.base import LLMError, Prompt, Usage, VendorProvider, connection_error, error_for_status
from querying.llm.base import error_for_timeout, error_for_transport, incomplete_answer

# Error types Anthropic sends inside a stream that may pass if tried again.
RETRYABLE_STREAM_ERRORS = {"overloaded_error", "api_error", "rate_limit_error", "timeout_error"}


class AnthropicProvider(VendorProvider):
    vendor = "anthropic"
    sdk = anthropic
    async_client_class = anthropic.AsyncAnthropic

    def __init__(self, model: str = "claude-haiku-4-5", **options):
        super().__init__(model, **options)

    def _request(self, prompt: Prompt) -> dict:
        return {
            "model": self.model,
            "system": prompt.system,
            "messages": prompt.messages,
            # No temperature: anthropic 2.x's Messages API does not take one any more. The option
            # is still accepted, so every provider reads the same settings shape.
            "max_tokens": self.max_tokens,
        }

    @staticmethod
    def _record_usage(stream, usage: Usage) -> None:
        try:
            snapshot = stream.current_message_snapshot
        except AssertionError:  # no message_start seen
            return
        usage["input_tokens"] = snapshot.usage.input_tokens
        usage["output_tokens"] = snapshot.usage.output_tokens

    def _error(self, exc: Exception, *, mid_answer: bool = False) -> LLMError:
        if isinstance(exc, anthropic.APITimeoutError):
            return error_for_timeout(exc, "anthropic", self.timeout, mid_answer=mid_answer)
        if isinstance(exc, anthropic.APIConnectionError):  # the SDK wraps a read that failed mid-stream too
            return connection_error("anthropic", exc.__cause__ or exc, mid_answer=mid_answer)
        if isinstance(exc, anthropic.APIStatusError):
            body = exc.body if isinstance(exc.body, dict) else {}
            detail = body.get("error") if isinstance(body.get("error"), dict) else {}
            message = detail.get("message") or exc.message
            if exc.status_code < 400:  # an `error` event inside a stream that had started with 200
                retryable = detail.get("type") in RETRYABLE_STREAM_ERRORS
                code = "provider_unavailable" if retryable else "provider_error"
                return LLMError(f"anthropic stopped mid-answer: {message}", retryable=retryable, code=code)
            return error_for_status(exc.status_code, f"anthropic refused the request ({exc.status_code}): {message}")
        transport = error_for_transport(exc, "anthropic", mid_answer=mid_answer)
        if transport is not None:
            return transport
        return LLMError(f"anthropic failed: {exc}", code="provider_error")

    async def stream(self, prompt: Prompt, usage: Usage) -> AsyncIterator[str]:
        started = finished = False
        try:
            # Leaving the block, also by a reader that stops early, closes the HTTP response.
            async with (await self._async_client()).messages.stream(**self._request(prompt)) as stream:
                async for event in stream:  # text_stream's events, and message_stop: the answer's end
                    if event.type == "content_block_delta" and event.delta.type == "text_delta" and event.delta.text:
                        started = True
                        yield event.delta.text
                    elif event.type == "message_stop":
                        finished = True
                self._record_usage(stream, usage)
        except LLMError:
            raise
        except Exception as exc:
            raise self._error(exc, mid_answer=started) from exc
        if not finished:
            raise incomplete_answer("anthropic")
