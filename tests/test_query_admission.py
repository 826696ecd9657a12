"""Questions under load: at most RAGSITE_RETRIEVAL_THREADS retrievals at once, a bounded queue
in front of them whose askers hear at once that they wait, and 503 with Retry-After past it; and
the request id that ties a question's log lines together."""

import asyncio
import logging
import threading
import time

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from access.middleware import RequestIdLogFilter
from querying.executor import Busy, RetrievalExecutor, retrieval_executor
from tests.fake_vendors import Script
from tests.test_query_endpoints import (  # noqa: F401  (fixtures)
    QUESTION,
    _answer_settings,
    fake_openai,
    kettle,
    kinds,
    parse_sse,
    stream_wsgi,
)

# --- the executor ---------------------------------------------------------------------------------


def _settled(executor: RetrievalExecutor, jobs: list, started: list) -> tuple[list[int], list[int]]:
    """(running, waiting) job numbers once the threads have picked up what they can and the
    executor has counted what finished (a future is done just before its callbacks run)."""
    deadline = time.monotonic() + 5
    while True:
        live = [i for i, job in enumerate(jobs) if not job.future.done()]
        running = [i for i in live if i in started]
        steady = len(running) >= min(executor.threads, len(live)) and executor.pending == len(live)
        if steady or time.monotonic() > deadline:
            return running, [i for i in live if i not in started]
        time.sleep(0.001)


@hypothesis_settings(max_examples=60)
@given(
    threads=st.integers(1, 4),
    queue_max=st.integers(0, 4),
    steps=st.lists(st.one_of(st.just("submit"), st.integers(0, 20)), max_size=30),
)
def test_the_executor_runs_at_most_its_threads_in_order_and_bounds_its_queue(threads, queue_max, steps):
    """Any sequence of arrivals and finishes: never more than `threads` running, never more than
    `queue_max` waiting, jobs started first come first served, and a refusal only when the queue
    is full."""
    executor = RetrievalExecutor(threads, queue_max)
    started, gates, jobs = [], [], []  # in arrival order
    try:
        for step in steps:
            live = [i for i, job in enumerate(jobs) if not job.future.done()]
            if step == "submit":
                full = len(live) >= threads + queue_max
                gate = threading.Event()
                number = len(jobs)
                try:
                    jobs.append(executor.submit(lambda n=number, g=gate: (started.append(n), g.wait(5))))
                    gates.append(gate)
                    assert not full
                except Busy:
                    assert full
            elif live:
                finishing = live[step % len(live)]
                if finishing in started:
                    gates[finishing].set()
                    jobs[finishing].future.result(5)
                else:  # an asker who left while it waited
                    assert jobs[finishing].future.cancel()
            running, waiting = _settled(executor, jobs, started)
            assert len(running) == min(threads, len(running) + len(waiting)) and len(waiting) <= queue_max
            assert executor.pending == len(running) + len(waiting)
            if running and waiting:  # first come, first served
                assert max(running) < min(waiting)
    finally:
        for gate in gates:
            gate.set()


def test_a_queued_job_wakes_an_event_loop_when_another_thread_frees_its_thread():
    executor = RetrievalExecutor(1, 1)
    free = threading.Event()
    executor.submit(free.wait, 5)

    async def wait_for_thread():
        job = executor.submit(lambda: "answered")
        assert job.queued
        threading.Timer(0.1, free.set).start()
        return await asyncio.wait_for(job.result(), 5)

    assert asyncio.run(wait_for_thread()) == "answered"
    assert executor.pending == 0


# --- the endpoints ---------------------------------------------------------------------------------

pytestmark = pytest.mark.django_db(transaction=True)


class Holder:
    """A slow question holding a retrieval thread until the test releases it."""

    def __init__(self):
        self.free, self.running = threading.Event(), threading.Event()
        self.job = retrieval_executor().submit(lambda: (self.running.set(), self.free.wait(30)))
        assert self.running.wait(5) and not self.job.queued

    def release(self):
        self.free.set()
        self.job.future.result(5)


def idle() -> bool:
    return retrieval_executor().pending == 0


@pytest.fixture
def one_slot(settings):
    """One retrieval thread, one place in the queue; the thread is taken (as by a slow question)
    until the test releases it."""
    settings.RAGSITE_RETRIEVAL_THREADS = 1
    settings.RAGSITE_QUERY_QUEUE_MAX = 1
    settings.RAGSITE_SSE_HEARTBEAT_SECONDS = 0.1
    holder = Holder()
    yield holder
    holder.release()


def test_a_queued_asker_gets_headers_and_heartbeats_at_once_then_its_answer(kettle, one_slot):
    async def run():
        response = await asyncio.wait_for(
            AsyncClient().post("/query/stream", {"question": QUESTION}, content_type="application/json"), 5
        )
        # The view answered while every retrieval slot was still taken.
        assert response.status_code == 200 and response["Content-Type"].startswith("text/event-stream")
        chunks = aiter(response.streaming_content)
        first = await asyncio.wait_for(anext(chunks), 2)
        beats = [await asyncio.wait_for(anext(chunks), 2) for _ in range(3)]
        one_slot.release()  # the slow question ends: this one retrieves and answers
        rest = [chunk async for chunk in chunks]
        return first, beats, b"".join([first, *beats, *rest])

    first, beats, raw = async_to_sync(run)()
    assert first == b": queued\n\n"
    assert beats == [b": ping\n\n"] * 3
    payloads, ids, _ = parse_sse(raw)
    assert ids == list(range(1, len(ids) + 1))
    assert kinds(payloads)[:2] == ["conversation_id", "meta"] and kinds(payloads)[-2:] == ["sources", "done"]
    assert "two years" in "".join(p["token"] for p in payloads if "token" in p)
    assert payloads[-1]["timings"]["queued"] >= 0
    assert idle()


def test_a_queued_asker_under_wsgi_gets_its_stream_at_once_too(client, kettle, one_slot):
    response = client.post("/query/stream", {"question": QUESTION}, content_type="application/json")
    assert response.status_code == 200  # while every retrieval slot is still taken
    chunks = iter(response)  # as a WSGI server reads it
    assert next(chunks) == b": queued\n\n"
    one_slot.release()
    payloads, ids, _ = parse_sse(b"".join(chunks))
    assert kinds(payloads)[-1] == "done" and "two years" in "".join(p["token"] for p in payloads if "token" in p)
    assert idle()


@pytest.mark.parametrize("path", ["/query", "/query/stream"])
def test_past_the_queue_a_question_is_refused_at_once_with_503_and_retry_after(client, kettle, one_slot, path):
    waiting = retrieval_executor().submit(lambda: None)  # the one place in the queue is taken too
    assert waiting.queued
    try:
        response = client.post(path, {"question": QUESTION}, content_type="application/json")
    finally:
        waiting.future.cancel()
    assert response.status_code == 503 and response["Content-Type"] == "application/json"
    assert response["Retry-After"] == "5"
    assert response.json()["error"]["code"] == "busy" and response.json()["error"]["retryable"] is True
    # Bad input is still a 400, whatever the queue.
    assert client.post(path, {"question": ""}, content_type="application/json").status_code == 400


def test_a_queued_question_whose_retrieval_fails_gets_an_error_event_then_done(kettle, one_slot, settings):
    # A provider that cannot be built: answer_prepare raises LLMError, after the stream started.
    settings.RAGSITE_LLM = {"BACKEND": "querying.llm.anthropic.AnthropicProvider", "OPTIONS": {"model": ""}}

    async def run():
        response = await AsyncClient().post("/query/stream", {"question": QUESTION}, content_type="application/json")
        assert response.status_code == 200
        chunks = aiter(response.streaming_content)
        assert await anext(chunks) == b": queued\n\n"
        one_slot.release()
        return b"".join([chunk async for chunk in chunks])

    payloads, ids, _ = parse_sse(async_to_sync(run)())
    assert kinds(payloads) == ["error", "done"] and ids == [1, 2]
    assert payloads[0]["error"]["code"] == "not_configured"
    assert idle()


def test_a_queued_asker_that_leaves_gives_its_place_back(kettle, one_slot):
    async def run():
        response = await AsyncClient().post("/query/stream", {"question": QUESTION}, content_type="application/json")
        chunks = response.streaming_content
        assert await anext(chunks) == b": queued\n\n"
        assert retrieval_executor().pending == 2  # the slow question and this one, waiting
        await chunks.aclose()  # the client went away while it waited

    async_to_sync(run)()
    assert retrieval_executor().pending == 1  # only the slow question


# --- request ids ---------------------------------------------------------------------------------


def test_every_answer_carries_a_request_id_and_keeps_a_sane_one_from_the_client(client):
    made = client.get("/api/schema/")
    assert len(made["X-Request-ID"]) == 32
    assert client.get("/api/schema/")["X-Request-ID"] != made["X-Request-ID"]
    assert client.get("/api/schema/", HTTP_X_REQUEST_ID="lb-7f3a.12")["X-Request-ID"] == "lb-7f3a.12"
    for insane in ("a b", "x" * 200, "<script>", "id\u00e9"):
        assert client.get("/api/schema/", HTTP_X_REQUEST_ID=insane)["X-Request-ID"] != insane


@pytest.mark.parametrize("server", ["wsgi", "asgi"])
@pytest.mark.parametrize(
    "script,code",
    [
        (Script(tokens=["Two", " years", " more"], error_after=2, error_message="model overloaded"), "provider_unavailable"),
        (Script(tokens=["Two", " years", " more"], end_after=2), "incomplete_answer"),
        (Script(tokens=["Two", " years", " more"], drop_after=2), "connection_error"),
        (Script(status=429, error_message="slow down"), "rate_limited"),
    ],
)
def test_a_provider_failure_mid_stream_is_an_error_event_for_the_client_and_a_log_line_with_the_request_id(
    client, kettle, fake_openai, caplog, server, script, code
):
    fake_openai.script = script
    caplog.handler.addFilter(RequestIdLogFilter())  # as LOGGING's console handler has it
    caplog.set_level(logging.WARNING, logger="querying")
    body, request_id = {"question": QUESTION}, f"ask-{server}-{code}"
    if server == "wsgi":
        response, (payloads, _, _) = stream_wsgi(client, body, HTTP_X_REQUEST_ID=request_id)
    else:

        async def run():
            response = await AsyncClient().post("/query/stream", body, content_type="application/json", headers={"X-Request-ID": request_id})
            return response, b"".join([chunk async for chunk in response.streaming_content])

        response, raw = async_to_sync(run)()
        payloads, _, _ = parse_sse(raw)
    assert response["X-Request-ID"] == request_id
    assert kinds(payloads)[-3:] == ["sources", "error", "done"]
    assert payloads[-2]["error"]["code"] == code
    failures = [r for r in caplog.records if r.name == "querying.services" and "failed" in r.getMessage()]
    assert len(failures) == 1, caplog.text
    assert failures[0].levelno == logging.WARNING and failures[0].request_id == request_id
    assert "openai-compatible:fake-model" in failures[0].getMessage() and code in failures[0].getMessage()


def test_under_asgi_no_request_waits_behind_a_thread_of_its_own_before_the_view(caplog, settings):
    """A sync-only middleware makes Django run it, and every middleware and view after it, behind
    a thread each request holds until its view returns (for a question: until retrieval is done).
    Django says so in a debug line when it loads the chain with DEBUG on; WhiteNoise's own
    middleware did."""
    from django.core.handlers.asgi import ASGIHandler

    settings.DEBUG = True
    with caplog.at_level(logging.DEBUG, logger="django.request"):
        ASGIHandler()
    adapted = [record.getMessage() for record in caplog.records if "adapted for middleware" in record.getMessage()]
    assert adapted == []


@pytest.mark.django_db
def test_static_files_are_still_served_under_asgi():
    from django.conf import settings

    client = AsyncClient()
    response = async_to_sync(client.get)("/static/querying/ask.js")
    assert response.status_code == 200
    body = b"".join(async_to_sync(_read)(response))
    assert body == (settings.BASE_DIR / "querying/static/querying/ask.js").read_bytes()
    assert response["Content-Type"].startswith("text/javascript")
    assert async_to_sync(client.get)("/static/querying/no-such-file.js").status_code == 404


async def _read(response):
    return [chunk async for chunk in response] if response.is_async else list(response)
