"""Any question string gets an answer (200) or a 4xx JSON error, never a 500: POST /query,
POST /query/stream (the whole stream read) and POST /api/search/, over a real index built from a
generated PDF. Questions are sent as JSON, so they may hold anything JSON can: lone surrogates,
NUL, control characters, 4 kB of emoji. Any name under /files/ gets the file or a 404."""

import json
from urllib.parse import quote

import pytest
from django.test import Client
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.strategies import texts
# The extractive mode and the ingested, indexed kettle manual of the endpoint tests.
from tests.test_query_endpoints import _answer_settings, kettle  # noqa: F401

# Transactional: /query/stream retrieves in a pool thread, whose connection sees only committed rows.
# Hundreds of requests on purpose: no throttle may answer in the endpoints' place.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_throttles")]

# The index is built once per test function: Hypothesis runs every example inside that one call.
endpoint_settings = settings(
    max_examples=max(10, settings().max_examples // 3),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
questions = st.one_of(texts(max_size=300), st.text(max_size=4100), st.just("_"), st.just("x" * 4001))


def post_json(client, path, body):
    # ensure_ascii: a lone surrogate travels as its JSON escape, as a browser would send it
    return client.post(path, json.dumps(body), content_type="application/json")


def assert_answer_or_client_error(response):
    assert response.status_code == 200 or 400 <= response.status_code < 500, (response.status_code, response.content[:500])
    if response.status_code != 200:
        assert response["Content-Type"].startswith("application/json")
        json.loads(response.content)


@endpoint_settings
@given(question=questions)
@example(question="_")  # a lone underscore once raised IndexError in the tokeniser: a 500 page
@example(question="\ud800")
@example(question="\x00")
def test_query_answers_or_refuses_any_question(kettle, client, question):
    response = post_json(client, "/query", {"question": question})
    assert_answer_or_client_error(response)
    if response.status_code == 200:
        assert isinstance(response.json()["answer"], str)


@endpoint_settings
@given(question=questions)
@example(question="_")
@example(question="\ud800")
@example(question="مرحبا 👩\u200d💻 東京\r\ndata: x")
def test_query_stream_answers_or_refuses_any_question(kettle, client, question):
    response = post_json(client, "/query/stream", {"question": question})
    if not response.streaming:
        assert_answer_or_client_error(response)
        return
    assert response.status_code == 200
    body = b"".join(response).decode("utf-8")  # as a WSGI server reads it
    assert body.endswith("\n\n")
    events = []
    for block in body[:-2].split("\n\n"):
        if block.startswith(":"):
            continue
        id_line, data_line = block.split("\n")
        assert id_line.startswith("id: ") and data_line.startswith("data: ")
        events.append(json.loads(data_line[len("data: ") :]))
    assert next(iter(events[-1])) in ("done", "error")


@endpoint_settings
@given(query=questions)
@example(query="_")
@example(query="\ud800")
def test_search_api_answers_or_refuses_any_query(kettle, staff_client, query):
    response = post_json(staff_client, "/api/search/", {"query": query, "rerank": False})
    assert_answer_or_client_error(response)


@endpoint_settings
@given(body=st.one_of(st.binary(max_size=200), texts(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass"))))
@example(body=b'{"question": "\\ud800"}')
@example(body=b'{"question": ["a"]}')
@example(body=b"[1]")
def test_any_request_body_gets_an_answer_or_a_client_error(kettle, client, body):
    for path in ("/query", "/query/stream"):
        response = client.post(path, body, content_type="application/json")
        if response.streaming:
            b"".join(response.streaming_content)
            assert response.status_code == 200
        else:
            assert_answer_or_client_error(response)


# Any JSON value where a field is expected: wrong types, nesting, ids past the database's
# integers, NaN and infinities (sent as Python's json writes them, which is no JSON).
ids = st.one_of(st.integers(min_value=-(2**70), max_value=2**70), st.sampled_from([0, 1, 2**63 - 1, 2**63, -(2**63) - 1]))
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), ids, st.floats(), texts(max_size=60)),
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(texts(max_size=8), children, max_size=4)),
    max_leaves=12,
)
fields = {
    "question": st.one_of(questions, json_values),
    "top_k": st.one_of(st.integers(min_value=-5, max_value=30), json_values),
    "document_ids": st.one_of(st.lists(ids, max_size=5), json_values),
    "rerank": json_values,
}
bodies = st.fixed_dictionaries({}, optional=fields)


@endpoint_settings
@given(body=bodies)
@example(body={"question": "warranty", "document_ids": [2**63]})
@example(body={"question": "warranty", "top_k": float("nan")})
@example(body={"question": ["warranty"], "top_k": {"n": 1}})
def test_any_field_values_get_an_answer_or_a_client_error(kettle, staff_client, body):
    sent = json.dumps(body)
    for path in ("/query", "/query/stream"):
        response = staff_client.post(path, sent, content_type="application/json")
        if response.streaming:
            assert response.status_code == 200
            assert b"".join(response).endswith(b"\n\n")
        else:
            assert_answer_or_client_error(response)
    search = {("query" if key == "question" else key): value for key, value in body.items()}
    assert_answer_or_client_error(post_json(staff_client, "/api/search/", search))


@endpoint_settings
@given(params=st.dictionaries(st.sampled_from(["limit", "offset", "status"]), texts(max_size=40, surrogates=False), max_size=3))
@example(params={"limit": str(10**30)})
@example(params={"offset": str(2**63), "limit": "0"})
def test_any_document_list_parameters_get_a_page_or_a_client_error(kettle, staff_client, params):
    response = staff_client.get("/api/documents/", params)
    assert_answer_or_client_error(response)
    if response.status_code == 200:
        assert set(response.json()) == {"count", "next", "previous", "results"}


@endpoint_settings
@given(name=texts(max_size=80, surrogates=False).filter(bool))
@example(name="\x00")  # psycopg refused the NUL in its query: a 500 page (issue 37)
@example(name="documents/\x00.pdf")
@example(name="documents/" + "f" * 32 + ".pdf\x00")
@example(name="../" * 20 + "etc/passwd")
@example(name="documents/" + "a" * 200 + ".pdf")  # longer than the column
@example(name="\n")  # no match for the URL pattern (no newline in `path:`): the ordinary 404 page
def test_any_made_up_file_name_is_a_404_never_a_500(staff_client, name):
    for asker in (Client(), staff_client):
        response = asker.get("/files/" + quote(name, safe="/"))
        assert response.status_code == 404, (name, response.status_code, response.content[:300])
        if "\n" not in name:  # the view's own refusal
            assert response["Content-Type"].startswith("application/json")
            assert json.loads(response.content) == {"detail": "No such document."}
