"""POST /query and POST /query/stream end to end: a generated PDF is ingested and indexed for
real, then asked about, under WSGI (the test client) and ASGI (the async client, and the raw
ASGI application for a client that disconnects)."""

import asyncio
import json
import threading

import pytest
from asgiref.sync import async_to_sync
from django.core import signals
from django.core.files.base import ContentFile
from django.db import close_old_connections
from django.test import AsyncClient, Client

from documents.embedding import get_embedder
from documents.search.services import index_rebuild_request
from documents.ingest import document_ingest
from documents.services import document_create
from querying.llm.base import LLMProvider
from querying.prompts import NOT_FOUND
from ragsite.handlers import RagsiteASGIHandler
from tests.fake_vendors import FakeVendor, Script
from tests.pdfs import text_pdf
from tests.search_corpus import search_options

# Transactional: /query/stream retrieves in a pool thread, whose connection sees only committed rows.
pytestmark = pytest.mark.django_db(transaction=True)

PAGES = [
    "Kettle K-200 user manual. Fill the kettle with fresh water up to the MAX mark. "
    "Press the switch once to start boiling; the light turns off when the water boils.",
    "Warranty and service. The warranty period for the K-200 kettle is two years from the date of purchase. "
    "Keep your receipt as proof of purchase. Repairs under warranty are free of charge.",
]
QUESTION = "What is the warranty period of the kettle?"
CSRF = "k" * 32  # an unmasked CSRF secret: the cookie and the X-CSRFToken header must match


@pytest.fixture(autouse=True)
def _answer_settings(settings):
    search_options(settings, version_check_seconds=0)
    settings.RAGSITE_RERANKER = {"BACKEND": "documents.search.rerank.DisabledReranker", "OPTIONS": {}}
    settings.RAGSITE_LLM = {"BACKEND": "querying.llm.extractive.ExtractiveProvider", "OPTIONS": {}}


@pytest.fixture
def kettle():
    """A two-page PDF, ingested and indexed."""
    document = document_create(file=ContentFile(text_pdf(PAGES), name="kettle.pdf"), title="Kettle K-200", enqueue=False)
    outcome = document_ingest(document_id=document.pk, rebuild_index=False)
    assert outcome.status == "ready", outcome.detail
    index_rebuild_request(in_process=True)
    document.refresh_from_db()
    return document


@pytest.fixture
def fake_openai(settings):
    """A fake OpenAI-compatible server, configured as the provider; its script can be changed per test."""
    vendor = FakeVendor("openai", Script(tokens=["Two", " years", " [1]", "."])).start()
    settings.RAGSITE_LLM = {
        "BACKEND": "querying.llm.openai.OpenAIProvider",
        "OPTIONS": {"model": "fake-model", "base_url": vendor.base_url("openai"), "max_retries": 0, "timeout": 5},
    }
    yield vendor
    vendor.stop()


class SlowProvider(LLMProvider):
    """A provider with only `stream`, silent for a while before each word (heartbeat tests)."""

    name = "slow"

    def __init__(self, pause=0.5):
        self.pause = pause

    async def stream(self, prompt, usage):
        for word in ["slow ", "answer"]:
            await asyncio.sleep(self.pause)
            yield word


def parse_sse(body: bytes) -> tuple[list[dict], list[int], int]:
    """(payloads, ids, heartbeat count) of an SSE body."""
    payloads, ids, pings = [], [], 0
    for block in body.decode().split("\n\n"):
        if not block.strip():
            continue
        if block.startswith(":"):
            pings += 1
            continue
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        ids.append(int(fields["id"]))
        payloads.append(json.loads(fields["data"]))
    return payloads, ids, pings


def stream_wsgi(client, body, **extra):
    response = client.post("/query/stream", body, content_type="application/json", **extra)
    assert response.status_code == 200, response.content
    return response, parse_sse(b"".join(response))  # as a WSGI server reads it


def stream_asgi(body, **extra):
    async def run():
        response = await AsyncClient().post("/query/stream", body, content_type="application/json", **extra)
        assert response.status_code == 200
        return response, b"".join([chunk async for chunk in response.streaming_content])

    response, raw = async_to_sync(run)()
    return response, parse_sse(raw)


def kinds(payloads):
    return [next(iter(p)) for p in payloads]


def check_stream_shape(payloads, ids):
    assert ids == list(range(1, len(ids) + 1))
    order = kinds(payloads)
    # The conversation the answer joins comes first: today's clients read on to meta.
    assert order[:2] == ["conversation_id", "meta"] and order[-1] == "done"
    tokens = [i for i, kind in enumerate(order) if kind == "token"]
    assert tokens and tokens == list(range(2, len(tokens) + 2))  # tokens right after meta, together
    assert order[len(tokens) + 2] == "sources"


# --- POST /query -------------------------------------------------------------------------------


def test_query_answers_from_the_pdf_with_cited_sources_and_timings(client, kettle):
    response = client.post("/query", {"question": QUESTION, "top_k": 3}, content_type="application/json")
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["mode"] == "extractive" and data["reranked"] is False
    warranty = next(s for s in data["sources"] if s["page"] == 2)
    assert "two years from the date of purchase" in data["answer"]
    assert f"[{data['sources'].index(warranty) + 1}]" in data["answer"]
    assert warranty["document_id"] == kettle.pk and warranty["title"] == "Kettle K-200"
    assert warranty["url"] == f"{kettle.file.url}#page=2"
    assert set(warranty) >= {"chunk_id", "document_id", "title", "page", "text", "score", "url", "cited"}
    assert warranty["cited"] is True and data["not_found"] is False
    assert {"embed", "search", "rerank", "generate", "total"} <= set(data["timings"])
    assert data["timings"]["total"] >= data["timings"]["generate"]


def test_an_extractive_answer_runs_the_model_on_the_question_only(client, kettle, monkeypatch):
    """The passages' sentences were embedded when the PDF was ingested: answering compares those
    vectors, so the model runs once per question (search embeds it) and not on its sentences."""
    embedder = get_embedder()
    embedder.__dict__.pop("_query_cache", None)
    embedded = []
    real_embed = type(embedder).embed
    monkeypatch.setattr(
        type(embedder), "embed", lambda self, texts, **options: embedded.extend(texts) or real_embed(self, texts, **options)
    )

    response = client.post("/query", {"question": QUESTION}, content_type="application/json")

    assert response.status_code == 200, response.content
    assert "two years from the date of purchase" in response.json()["answer"]
    assert embedded == [QUESTION]


def test_query_says_plainly_when_the_documents_do_not_answer(client, kettle):
    response = client.post("/query", {"question": "Who painted the Mona Lisa?"}, content_type="application/json")
    data = response.json()
    assert data["answer"] == f"{NOT_FOUND} None of the passages found mentions “Mona Lisa”."
    # the passages still shown are marked as only the closest ones, none of them cited
    assert data["not_found"] is True and data["sources"] and not any(s["cited"] for s in data["sources"])
    _, (payloads, _, _) = stream_wsgi(client, {"question": "Who painted the Mona Lisa?"})
    sources = next(p for p in payloads if "sources" in p)
    assert sources["not_found"] is True and not any(s["cited"] for s in sources["sources"])


def test_query_refuses_a_question_about_something_no_passage_mentions_and_says_what(client, kettle):
    # The manual gives the K-200's warranty; quoting it would answer for another maker's kettle.
    question = "How long is the warranty on the Breville Smart kettle?"
    data = client.post("/query", {"question": question}, content_type="application/json").json()
    assert data["answer"] == f"{NOT_FOUND} None of the passages found mentions “Breville Smart”."
    assert data["not_found"] is True and data["sources"] and not any(s["cited"] for s in data["sources"])
    question = "How long is the warranty on the K-200 kettle?"
    answered = client.post("/query", {"question": question}, content_type="application/json").json()
    assert "two years" in answered["answer"] and answered["not_found"] is False


def test_query_with_no_index_yet_says_nothing_was_found(client):
    response = client.post("/query", {"question": QUESTION}, content_type="application/json")
    assert response.status_code == 200
    assert response.json()["answer"] == NOT_FOUND and response.json()["sources"] == []


@pytest.mark.parametrize(
    "body,field",
    [({}, "question"), ({"question": ""}, "question"), ({"question": "q", "top_k": 0}, "top_k"),
     ({"question": "q", "top_k": 21}, "top_k"), ({"question": "q", "document_ids": ["x"]}, "document_ids")],
)
def test_query_rejects_bad_input_with_field_errors(client, body, field):
    response = client.post("/query", body, content_type="application/json")
    assert response.status_code == 400 and field in response.json()


def test_query_is_in_the_openapi_schema(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    assert "post" in schema["paths"]["/query"]


def test_query_with_an_llm_provider_uses_the_numbered_sources(client, kettle, fake_openai):
    response = client.post("/query", {"question": QUESTION}, content_type="application/json")
    data = response.json()
    assert data["answer"] == "Two years [1]." and data["mode"] == "openai-compatible:fake-model"
    assert data["usage"] == {"input_tokens": 42, "output_tokens": 4}
    system = fake_openai.requests[0]["json"]["messages"][0]["content"]
    assert '<source n="1" title="Kettle K-200"' in system and "two years from the date of purchase" in system


def test_query_reports_a_provider_failure_as_json(client, kettle, fake_openai):
    fake_openai.script = Script(status=429, error_message="slow down")
    response = client.post("/query", {"question": QUESTION}, content_type="application/json")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "rate_limited" and response.json()["error"]["retryable"] is True


# --- POST /query/stream under WSGI ---------------------------------------------------------------


def test_stream_sends_meta_tokens_sources_done_with_ids_and_no_buffering_headers(client, kettle):
    response, (payloads, ids, _) = stream_wsgi(client, {"question": QUESTION, "top_k": 3})
    assert response["Content-Type"].startswith("text/event-stream")
    assert response["Cache-Control"] == "no-cache" and response["X-Accel-Buffering"] == "no"
    check_stream_shape(payloads, ids)
    assert payloads[1] == {"meta": {"mode": "extractive", "reranked": False, "search_query": QUESTION}}
    answer = "".join(p["token"] for p in payloads if "token" in p)
    assert "two years from the date of purchase" in answer
    assert len([p for p in payloads if "token" in p]) > 5  # word by word
    sources = payloads[-2]["sources"]
    assert any(s["url"] == f"{kettle.file.url}#page=2" for s in sources)
    done = payloads[-1]
    assert done["done"] is True and {"embed", "search", "generate", "total"} <= set(done["timings"])
    assert done["usage"]["output_tokens"] > 0
    # The JSON endpoint gives the same answer.
    assert client.post("/query", {"question": QUESTION, "top_k": 3}, content_type="application/json").json()["answer"] == answer


@pytest.mark.parametrize(
    "body,expected",
    [({}, {"question": ["This field is required."]}), ({"question": "q", "top_k": 50}, "top_k")],
)
def test_stream_rejects_bad_input_with_json_before_the_stream_starts(client, body, expected):
    response = client.post("/query/stream", body, content_type="application/json")
    assert response.status_code == 400 and response["Content-Type"] == "application/json"
    assert response.json() == expected if isinstance(expected, dict) else expected in response.json()
    bad_json = client.post("/query/stream", "{not json", content_type="application/json")
    assert bad_json.status_code == 400 and bad_json.json()["detail"].startswith("JSON parse error")
    assert client.get("/query/stream").status_code == 405


def test_stream_is_csrf_protected_for_browsers_and_open_to_api_clients(kettle):
    # A browser (it has cookies) must send the token with its cookie ...
    strict = Client(enforce_csrf_checks=True)
    strict.cookies["csrftoken"] = CSRF
    refused = strict.post("/query/stream", {"question": QUESTION}, content_type="application/json")
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    response, (payloads, ids, _) = stream_wsgi(strict, {"question": QUESTION}, HTTP_X_CSRFTOKEN=CSRF)
    assert payloads[-1]["done"] is True
    # ... an API client with no cookies at all streams as it would call POST /query.
    api_client = Client(enforce_csrf_checks=True)
    response, (payloads, ids, _) = stream_wsgi(api_client, {"question": QUESTION})
    assert payloads[-1]["done"] is True


def test_an_anonymous_script_that_keeps_its_cookies_goes_on_with_its_conversation(kettle):
    """A script's cookie jar (requests.Session, httpx.Client) keeps the session cookie its first
    answer set: its next question streams, in the same conversation, without a CSRF token it has
    no page to take from; a browser that opened a page must still send one (above)."""
    script = Client(enforce_csrf_checks=True)
    _, (first, _, _) = stream_wsgi(script, {"question": QUESTION})
    conversation_id = first[0]["conversation_id"]
    assert script.cookies  # the session that owns the conversation
    response, (payloads, _, _) = stream_wsgi(script, {"question": "and how long is it?", "conversation_id": conversation_id})
    assert response.status_code == 200 and payloads[0] == {"conversation_id": conversation_id}
    assert payloads[-1]["done"] is True
    script.cookies["csrftoken"] = CSRF  # now it looks like a browser that opened the page
    refused = script.post("/query/stream", {"question": QUESTION}, content_type="application/json")
    assert refused.status_code == 403


def test_stream_limits_sources_to_the_given_documents(client, kettle):
    # Another document, not yet ingested: asked within it alone, nothing of the kettle's is found.
    queued = document_create(file=ContentFile(text_pdf(["A manual still in the queue."]), name="queued.pdf"), enqueue=False)
    _, (payloads, _, _) = stream_wsgi(client, {"question": QUESTION, "document_ids": [queued.pk]})
    assert payloads[-2] == {"sources": [], "not_found": True, "citations": []}
    assert "".join(p["token"] for p in payloads if "token" in p) == NOT_FOUND


@pytest.mark.parametrize("path", ["/query", "/query/stream"])
def test_document_ids_that_do_not_exist_are_a_400_naming_them(client, kettle, path):
    """Issue: `document_ids: [9999]` answered "I could not find this..." as if the documents had
    been searched."""
    missing = [kettle.pk + 1000, kettle.pk + 1001]
    response = client.post(path, {"question": QUESTION, "document_ids": [kettle.pk, *missing]},
                           content_type="application/json")
    assert response.status_code == 400 and response["Content-Type"] == "application/json"
    assert response.json() == {"document_ids": [f"No documents with the ids {missing[0]}, {missing[1]}."]}


def test_stream_with_an_llm_provider_relays_its_tokens(client, kettle, fake_openai):
    _, (payloads, ids, _) = stream_wsgi(client, {"question": QUESTION})
    check_stream_shape(payloads, ids)
    assert payloads[1]["meta"]["mode"] == "openai-compatible:fake-model"
    assert [p["token"] for p in payloads if "token" in p] == ["Two", " years", " [1]", "."]
    assert payloads[-1]["usage"] == {"input_tokens": 42, "output_tokens": 4}


@pytest.mark.parametrize("server", ["wsgi", "asgi"])
def test_a_provider_failure_mid_stream_becomes_an_error_event_then_done(client, kettle, fake_openai, server):
    fake_openai.script = Script(tokens=["Two", " years", " more"], error_after=2, error_message="model overloaded")
    if server == "wsgi":
        _, (payloads, ids, _) = stream_wsgi(client, {"question": QUESTION})
    else:
        _, (payloads, ids, _) = stream_asgi({"question": QUESTION})
    assert kinds(payloads) == ["conversation_id", "meta", "token", "token", "sources", "error", "done"]
    assert ids == [1, 2, 3, 4, 5, 6, 7]
    assert "".join(p["token"] for p in payloads if "token" in p) == "Two years"  # no error text in the answer
    assert payloads[5]["error"]["code"] == "provider_unavailable" and "model overloaded" in payloads[5]["error"]["message"]


@pytest.mark.parametrize("server", ["wsgi", "asgi"])
def test_a_quiet_provider_gets_heartbeat_comments(client, kettle, settings, server):
    settings.RAGSITE_SSE_HEARTBEAT_SECONDS = 0.1
    settings.RAGSITE_LLM = {"BACKEND": "tests.test_query_endpoints.SlowProvider", "OPTIONS": {"pause": 0.45}}
    if server == "wsgi":
        _, (payloads, ids, pings) = stream_wsgi(client, {"question": QUESTION})
    else:
        _, (payloads, ids, pings) = stream_asgi({"question": QUESTION})
    check_stream_shape(payloads, ids)
    assert "".join(p["token"] for p in payloads if "token" in p) == "slow answer"
    assert pings >= 4


# --- POST /query/stream under ASGI ---------------------------------------------------------------


def test_asgi_stream_relays_the_providers_tokens_as_they_come(kettle, fake_openai):
    response, (payloads, ids, _) = stream_asgi({"question": QUESTION, "top_k": 2})
    assert response["X-Accel-Buffering"] == "no"
    check_stream_shape(payloads, ids)
    assert [p["token"] for p in payloads if "token" in p] == ["Two", " years", " [1]", "."]
    assert len(payloads[-2]["sources"]) == 2


def test_asgi_stream_validates_before_streaming():
    async def run():
        return await AsyncClient().post("/query/stream", {"top_k": 3}, content_type="application/json")

    response = async_to_sync(run)()
    assert response.status_code == 400 and response.json() == {"question": ["This field is required."]}


def asgi_scope(path: str, body: bytes) -> dict:
    """A POST as uvicorn hands it to the application, with a browser's CSRF cookie and header."""
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [
            (b"host", b"testserver"), (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()), (b"cookie", f"csrftoken={CSRF}".encode()),
            (b"x-csrftoken", CSRF.encode()),
        ],
        "client": ("127.0.0.1", 50000), "server": ("testserver", 80),
    }


async def asgi_call(path: str, body: bytes, leave_when=lambda sent: False) -> list[dict]:
    """One request through the project's ASGI application (ragsite/asgi.py), as uvicorn drives
    it: the messages it sent. The client goes away once leave_when(the messages so far) is true."""
    sent = []
    gone = asyncio.Event()
    requested = False

    async def receive():
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": body, "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)
        if leave_when(sent):
            gone.set()

    await asyncio.wait_for(RagsiteASGIHandler()(asgi_scope(path, body), receive, send), 10)
    return sent


@pytest.fixture
def keep_test_connection():
    """As Django's test clients do: the handler must not close the test's database connection."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def test_a_client_disconnect_closes_the_upstream_provider_stream(kettle, fake_openai, keep_test_connection):
    """After two tokens the client goes away."""
    fake_openai.script = Script(tokens=[f"w{i} " for i in range(300)], delay=0.02)
    received = async_to_sync(asgi_call)(
        "/query/stream", json.dumps({"question": QUESTION}).encode(),
        leave_when=lambda sent: sum(b'"token"' in m.get("body", b"") for m in sent) >= 2,
    )
    assert received[0]["status"] == 200
    assert fake_openai.disconnected.wait(5), "the provider's stream was left running"
    assert fake_openai.tokens_sent < 100
    assert not any(b'"done"' in m.get("body", b"") for m in received)


def test_answer_streams_start_no_thread_per_request_under_asgi(kettle, monkeypatch):
    """Django runs each request's synchronous steps in a thread started for it; starting one
    stalls the event loop that relays every open stream's tokens. An answer stream's request
    starts none (ragsite.handlers); every other view is served as Django serves it."""
    started = []
    start = threading.Thread.start

    def counted(thread):
        started.append(thread.name)
        return start(thread)

    question = json.dumps({"question": QUESTION}).encode()

    async def run():
        await asgi_call("/query/stream", question)  # the shared pools start their threads once
        await asgi_call("/query", question)
        monkeypatch.setattr(threading.Thread, "start", counted)
        for _ in range(4):
            sent = await asgi_call("/query/stream", question)
            assert sent[0]["status"] == 200 and any(b'"done":true' in m.get("body", b"") for m in sent)
        streams = list(started)
        started.clear()
        for _ in range(2):
            sent = await asgi_call("/query", question)
            assert sent[0]["status"] == 200
        return streams, list(started)

    # A plain event loop, as uvicorn's: under async_to_sync, Django would run the synchronous
    # steps in the test's own thread and start none for any view.
    streams, answers = asyncio.run(run())
    assert streams == []
    assert len(answers) >= 2  # POST /query (DRF, synchronous): a thread for each request, as Django does


def test_a_source_has_one_shape_in_the_json_answer_the_stream_and_search(client, kettle, staff_client):
    """Issue: POST /query's sources lacked the `ocr` the stream's carried. One serializer makes both
    (querying.sources.SourceSerializer), and a search result shares the passage's own fields."""
    from documents.search.api import PassageSerializer
    from querying.sources import SourceSerializer

    answered = client.post("/query", {"question": QUESTION}, content_type="application/json").json()
    _, (payloads, _, _) = stream_wsgi(client, {"question": QUESTION})
    streamed = payloads[-2]["sources"]
    fields = set(SourceSerializer().fields)
    assert "ocr" in fields and answered["sources"] and streamed
    assert [set(source) for source in answered["sources"]] == [fields] * len(answered["sources"])
    assert answered["sources"] == streamed  # the same passages, shown alike
    assert answered["citations"] == payloads[-2]["citations"]
    found = staff_client.post("/api/search/", {"query": QUESTION}, content_type="application/json").json()["results"]
    assert set(PassageSerializer().fields) <= set(found[0]) and set(PassageSerializer().fields) <= fields
