"""Bodies and parameters nobody should send get a 4xx JSON error, never a 500: ids past the
database's integers, JSON nested 100,000 deep, bodies over the size limit, huge numbers. Each
endpoint that takes a body is asked over a real index (the kettle manual of the endpoint tests)."""

import json

import pytest

from documents.models import ID_MAX, Document

# The extractive mode and the ingested, indexed kettle manual of the endpoint tests.
from tests.test_query_endpoints import _answer_settings, kettle  # noqa: F401

# Transactional: /query/stream retrieves in a pool thread, whose connection sees only committed rows.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_throttles")]

BODY_FIELDS = {"/query": "question", "/query/stream": "question", "/api/search/": "query"}


@pytest.fixture
def api(staff_client):
    """A staff client (the search API is staff-only) that turns a server error into a 500 response."""
    staff_client.raise_request_exception = False
    return staff_client


def post(client, path, body: bytes | str):
    response = client.post(path, body, content_type="application/json")
    assert response.status_code != 500
    assert not response.streaming or response.status_code == 200
    return response


def json_error(response, status):
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    return response.json()


@pytest.mark.parametrize("path", BODY_FIELDS)
def test_a_document_id_past_the_largest_id_is_a_field_error(api, kettle, path):
    body = {BODY_FIELDS[path]: "How long is the warranty?", "document_ids": [ID_MAX + 1]}
    error = json_error(post(api, path, json.dumps(body)), 400)
    assert error == {"document_ids": {"0": [f"Ensure this value is less than or equal to {ID_MAX}."]}}

    body["document_ids"] = [ID_MAX]  # the largest id there can be, and no such document
    response = post(api, path, json.dumps(body))
    if path == "/api/search/":  # a search narrowed to nothing finds nothing
        assert response.status_code == 200
        assert response.json()["results"] == []
    else:  # a question is not answered from documents other than those it named
        assert json_error(response, 400) == {"document_ids": [f"No documents with the ids {ID_MAX}."]}


@pytest.mark.parametrize("path", BODY_FIELDS)
def test_json_nested_100000_deep_is_a_parse_error(api, path):
    error = json_error(post(api, path, "[" * 100_000), 400)
    assert error == {"detail": "JSON parse error - the body is nested too deeply"}
    # Deep, but within what the parser takes: an ordinary validation error.
    assert json_error(post(api, path, "[" * 500 + "]" * 500), 400) == {
        "non_field_errors": ["Invalid data. Expected a dictionary, but got list."]
    }


@pytest.mark.parametrize("path", BODY_FIELDS)
def test_a_body_over_the_upload_limit_is_413_json(api, settings, path):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    body = json.dumps({BODY_FIELDS[path]: "x" * 20_000})
    assert json_error(post(api, path, body), 413) == {"detail": "The request body is larger than this server accepts."}


@pytest.mark.parametrize("path", BODY_FIELDS)
@pytest.mark.parametrize(
    "field, value",
    [("top_k", 10**100), ("top_k", -(10**100)), ("top_k", "5; DROP TABLE"), ("top_k", [5]),
     ("document_ids", "1,2"), ("document_ids", [[1]]), ("document_ids", [1.5]), ("document_ids", list(range(1, 1002))),
     ("document_ids", {"1": 1})],
)
def test_wrong_types_and_huge_values_are_field_errors(api, path, field, value):
    body = {BODY_FIELDS[path]: "warranty", field: value}
    assert field in json_error(post(api, path, json.dumps(body)), 400)


@pytest.mark.parametrize("path", ["/query", "/query/stream"])
def test_nan_and_infinity_are_not_json(api, path):
    error = json_error(post(api, path, '{"question": "warranty", "top_k": NaN}'), 400)
    assert error["detail"].startswith("JSON parse error")


@pytest.mark.parametrize(
    "query, field",
    [("limit=0", "limit"), ("limit=-1", "limit"), (f"limit={10**30}", "limit"), (f"offset={10**30}", "offset"),
     ("offset=-5", "offset"), ("limit=x&offset=2", "limit"), ("status=%00", "status"), ("status=READY", "status")],
)
def test_the_document_list_refuses_paging_parameters_out_of_range(api, kettle, query, field):
    assert field in json_error(api.get(f"/api/documents/?{query}"), 400)


def test_the_document_list_pages_within_its_bounds(api, kettle):
    page = api.get("/api/documents/?limit=1000&offset=0&status=").json()
    assert set(page) == {"count", "next", "previous", "results"} and len(page["results"]) == 1
    assert api.get(f"/api/documents/?offset={ID_MAX}").json()["results"] == []


@pytest.mark.parametrize("path", [f"/api/documents/{10**30}/", f"/api/documents/{ID_MAX + 1}/reingest/"])
def test_a_document_id_past_the_largest_in_a_path_is_404(api, path):
    response = api.post(path) if path.endswith("reingest/") else api.get(path)
    assert json_error(response, 404) == {"detail": "No Document matches the given query."}
    assert Document.objects.count() == 0
