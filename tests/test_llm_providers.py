"""The vendor providers against local servers that speak each vendor's wire format: the real
openai, groq and anthropic SDKs parse the streams."""

import asyncio
import ssl

import pytest

from querying.llm.anthropic import AnthropicProvider
from querying.llm import base
from querying.llm.base import LLMError
from querying.llm.groq import GroqProvider
from querying.llm.openai import OpenAIProvider
from querying.prompts import Prompt
from tests.fake_vendors import FakeVendor, Script
from tests.processes import self_signed_certificate

VENDORS = {
    "openai": (OpenAIProvider, "openai"),
    "groq": (GroqProvider, "openai"),
    "anthropic": (AnthropicProvider, "anthropic"),
}
MESSAGES = [{"role": "user", "content": "What is the warranty?"}]


def prompt(system="S"):
    return Prompt(system=system, messages=MESSAGES, passages=[])


@pytest.fixture(params=sorted(VENDORS))
def vendor_name(request):
    return request.param


def make(vendor_name, script, **options):
    provider_class, wire = VENDORS[vendor_name]
    vendor = FakeVendor(wire, script).start()
    options = {"api_key": "test-key", "max_retries": 0, "timeout": 5.0, **options}
    provider = provider_class(model="fake-model", base_url=vendor.base_url(vendor_name), **options)
    return vendor, provider


async def collect(agen, limit=None, into=None):
    out = [] if into is None else into
    async for piece in agen:
        out.append(piece)
        if limit and len(out) >= limit:
            break
    return out


def test_stream_yields_tokens_in_order_and_skips_empty_deltas(vendor_name):
    vendor, provider = make(vendor_name, Script(tokens=["The", " warranty", " is", " two", " years", "."]))
    try:
        usage = {}
        pieces = asyncio.run(collect(provider.stream(prompt("SYSTEM RULES"), usage)))
        assert pieces == ["The", " warranty", " is", " two", " years", "."]
        assert usage == {"input_tokens": 42, "output_tokens": 6}
        sent = vendor.requests[0]["json"]
        assert sent["model"] == "fake-model" and sent["stream"] is True
        assert sent["max_tokens"] == 800  # generation is always bounded
        if vendor_name == "anthropic":
            assert sent["system"] == "SYSTEM RULES" and sent["messages"] == MESSAGES
        else:
            assert sent["messages"] == [{"role": "system", "content": "SYSTEM RULES"}, *MESSAGES]
    finally:
        vendor.stop()


def test_generate_joins_the_streamed_tokens(vendor_name):
    vendor, provider = make(vendor_name, Script(tokens=["Two", " years", " [1]"]))
    try:
        usage = {}
        assert asyncio.run(collect(provider.stream(prompt(), usage))) == ["Two", " years", " [1]"]
        assert usage["output_tokens"] == 3
        assert provider.generate(prompt(), {}) == "Two years [1]"
    finally:
        vendor.stop()


def test_provider_name_says_which_vendor_and_model(vendor_name):
    vendor, provider = make(vendor_name, Script())
    vendor.stop()
    expected = {"openai": "openai-compatible:fake-model", "groq": "groq:fake-model", "anthropic": "anthropic:fake-model"}
    assert provider.name == expected[vendor_name]
    assert OpenAIProvider(model="gpt-4o-mini", api_key="k").name == "openai:gpt-4o-mini"


def stream_until_error(vendor_name, script, **options) -> tuple[list[str], LLMError]:
    """What the provider streamed from a vendor playing script before the LLMError it must raise."""
    vendor, provider = make(vendor_name, script, **options)
    received = []
    try:
        with pytest.raises(LLMError) as caught:
            asyncio.run(collect(provider.stream(prompt(), {}), into=received))
    finally:
        vendor.stop()
    return received, caught.value


def test_vendor_error_event_mid_stream_raises_a_retryable_llm_error_after_the_tokens(vendor_name):
    error_type = "overloaded_error" if vendor_name == "anthropic" else "server_error"
    script = Script(tokens=["a", "b", "c", "d"], error_after=2, error_type=error_type, error_message="Overloaded")
    received, error = stream_until_error(vendor_name, script)
    assert received == ["a", "b"]
    assert error.retryable is True
    assert error.code == "provider_unavailable"
    assert "Overloaded" in error.message


@pytest.mark.parametrize("vendor_name", ["openai", "groq"])
def test_a_chat_completions_event_that_is_not_a_json_object_is_a_provider_error_not_a_crash(vendor_name):
    received, error = stream_until_error(vendor_name, Script(tokens=["a", "b", "c"], junk_after=1))
    assert received == ["a"]
    assert error.code == "provider_error"
    assert "not a JSON object" in error.message


@pytest.mark.parametrize("status,code,retryable", [(429, "rate_limited", True), (401, "auth_error", False), (500, "provider_unavailable", True)])
def test_http_error_before_the_stream_maps_to_code_and_retryable(vendor_name, status, code, retryable):
    vendor, provider = make(vendor_name, Script(status=status, error_type="rate_limit_error", error_message="slow down"))
    try:
        with pytest.raises(LLMError) as caught:
            asyncio.run(collect(provider.stream(prompt(), {})))
        assert (caught.value.code, caught.value.retryable) == (code, retryable)
        assert str(status) in caught.value.message
        assert len(vendor.requests) == 1  # max_retries=0 was honoured
    finally:
        vendor.stop()


def test_a_silent_vendor_times_out_with_a_retryable_error(vendor_name):
    received, error = stream_until_error(vendor_name, Script(tokens=["first", "second"], stall_after=1, stall_seconds=3),
                                         timeout=0.5)
    assert received == ["first"]
    assert (error.code, error.retryable) == ("timeout", True)


def test_closing_the_stream_closes_the_upstream_connection(vendor_name):
    vendor, provider = make(vendor_name, Script(tokens=[f"t{i} " for i in range(200)], delay=0.02))

    async def run():
        stream = provider.stream(prompt(), {})
        assert [await anext(stream), await anext(stream)] == ["t0 ", "t1 "]
        await stream.aclose()  # what a WSGI server does, through EventStreamResponse, when the client is gone

    try:
        asyncio.run(run())
        assert vendor.disconnected.wait(5), "the fake vendor never saw the connection drop"
        assert vendor.tokens_sent < 50
        assert not vendor.completed.is_set()
    finally:
        vendor.stop()


def test_cancelling_the_async_stream_closes_the_upstream_connection(vendor_name):
    vendor, provider = make(vendor_name, Script(tokens=[f"t{i} " for i in range(200)], delay=0.02))

    async def reader(got_two: asyncio.Event):
        seen = 0
        async for _ in provider.stream(prompt(), {}):
            seen += 1
            if seen == 2:
                got_two.set()

    async def run():
        got_two = asyncio.Event()
        task = asyncio.create_task(reader(got_two))
        await asyncio.wait_for(got_two.wait(), 5)
        task.cancel()  # what the ASGI handler does when the client disconnects
        with pytest.raises(asyncio.CancelledError):
            await task

    try:
        asyncio.run(run())
        assert vendor.disconnected.wait(5), "the fake vendor never saw the connection drop"
        assert vendor.tokens_sent < 50
    finally:
        vendor.stop()


def test_a_stream_that_closes_without_its_end_marker_is_not_a_complete_answer(vendor_name):
    """OpenAI's finish_reason and [DONE], Anthropic's message_stop: without them the answer may be
    cut short (a proxy timing out, a vendor crashing between two chunks)."""
    vendor, provider = make(vendor_name, Script(tokens=["The", " warranty", " is", " two"], end_after=2))
    received = []
    try:
        with pytest.raises(LLMError) as caught:
            asyncio.run(collect(provider.stream(prompt(), {}), into=received))
    finally:
        vendor.stop()
    assert received == ["The", " warranty"]
    assert (caught.value.code, caught.value.retryable) == ("incomplete_answer", True)
    assert "without its end marker" in caught.value.message


def test_a_connection_reset_mid_answer_says_the_connection_was_lost(vendor_name):
    vendor, provider = make(vendor_name, Script(tokens=["The", " warranty", " is", " two"], drop_after=2))
    received = []
    try:
        with pytest.raises(LLMError) as caught:
            asyncio.run(collect(provider.stream(prompt(), {}), into=received))
    finally:
        vendor.stop()
    assert received == ["The", " warranty"]
    assert (caught.value.code, caught.value.retryable) == ("connection_error", True)
    assert caught.value.message.startswith(f"lost the connection to {vendor_name}")
    assert "cannot reach" not in caught.value.message


def test_two_answers_on_one_event_loop_share_its_client_which_closes_with_the_loop(vendor_name):
    """Answers on one event loop (a web server's) reuse one SDK client and its connections; a
    loop made for one answer (a sync answer, a WSGI stream) closes them when it shuts down, instead
    of leaving sockets open until the collector finds them."""
    vendor, provider = make(vendor_name, Script(tokens=["Two", " years"]))

    async def two_answers():
        first = await collect(provider.stream(prompt(), {}))
        client = await provider._async_client()
        second = await collect(provider.stream(prompt(), {}))
        assert await provider._async_client() is client
        return first + second, client, asyncio.get_running_loop()

    try:
        pieces, client, loop = asyncio.run(two_answers())
    finally:
        vendor.stop()
    assert pieces == ["Two", " years"] * 2
    assert client.is_closed()
    assert loop not in base._loop_clients


def test_more_than_a_hundred_answers_stream_at_once(vendor_name):
    """150 answers from one web process all reach the vendor while the first is still streaming
    (groq's SDK opens at most 100 connections by default: the rest waited for one to end)."""
    vendor, provider = make(vendor_name, Script(tokens=["Two", " years"], stall_after=1, stall_seconds=4.0))

    async def answers():
        streams = [asyncio.create_task(collect(provider.stream(prompt(), {}))) for _ in range(150)]
        await asyncio.sleep(3.0)  # every answer is stalled after its first token until 4 s
        arrived = len(vendor.requests)
        return arrived, await asyncio.gather(*streams)

    try:
        arrived, results = asyncio.run(answers())
    finally:
        vendor.stop()
    assert arrived == 150
    assert all(pieces == ["Two", " years"] for pieces in results)


def test_a_vendor_over_https_answers_once_its_certificate_is_trusted(vendor_name, tmp_path, monkeypatch):
    """The vendors serve HTTPS: the certificate is verified (an untrusted one is a connection
    error that says so), and a CA named by SSL_CERT_FILE, as behind a company proxy, is trusted."""
    cert_file, key_file = self_signed_certificate(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    provider_class, wire = VENDORS[vendor_name]
    vendor = FakeVendor(wire, Script(tokens=["Over", " TLS"]), tls=context).start()
    options = {"model": "fake-model", "api_key": "test-key", "max_retries": 0, "timeout": 5.0}
    try:
        with pytest.raises(LLMError) as caught:
            asyncio.run(collect(provider_class(base_url=vendor.base_url(vendor_name), **options).stream(prompt(), {})))
        assert caught.value.code == "connection_error"
        assert "CERTIFICATE_VERIFY_FAILED" in caught.value.message
        monkeypatch.setenv("SSL_CERT_FILE", cert_file)
        provider = provider_class(base_url=vendor.base_url(vendor_name), **options)
        assert asyncio.run(collect(provider.stream(prompt(), {}))) == ["Over", " TLS"]
    finally:
        vendor.stop()


def test_a_vendor_that_refuses_connections_cannot_be_reached(vendor_name):
    vendor, provider = make(vendor_name, Script())
    vendor.stop()  # nothing listens on its port any more: the connection is refused
    with pytest.raises(LLMError) as caught:
        asyncio.run(collect(provider.stream(prompt(), {})))
    assert (caught.value.code, caught.value.retryable) == ("connection_error", True)
    assert caught.value.message.startswith(f"cannot reach {vendor_name}")
