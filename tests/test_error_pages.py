"""Issue 35: under /api/, /query and /files/ every error is JSON ({"detail": ...}) whatever
DEBUG says: with DEBUG on (as `make run` starts the app) a path the URLs do not match was
Django's HTML debug page. Pages for people (the ask page, the admin) keep Django's HTML pages.
And /favicon.ico, which every browser asks for by itself, is served instead of a 404."""

import httpx
import pytest

from tests.processes import free_port, process_env, running, wait_http, web_args
from tests.urls_with_failures import LEAKED

pytestmark = pytest.mark.django_db

ICO_MAGIC = b"\x00\x00\x01\x00"


@pytest.fixture(params=[True, False], ids=["debug-on", "debug-off"])
def debug(request, settings):
    settings.DEBUG = request.param
    return request.param


@pytest.fixture
def failing(settings, client):
    """The site with a view that raises under each prefix; errors become responses."""
    settings.ROOT_URLCONF = "tests.urls_with_failures"
    client.raise_request_exception = False
    return client


def json_error(response, status):
    """The JSON body of a response (a test client's or httpx's) that must be this status."""
    assert response.status_code == status, response.content[:300]
    assert response.headers["Content-Type"] == "application/json", response.content[:300]
    return response.json()


@pytest.mark.parametrize("path", ["/api/conversations/abc/", "/api/nowhere", "/query/nowhere", "/files/", "/api/"])
def test_a_path_the_api_does_not_know_is_a_json_404(client, debug, path):
    assert json_error(client.get(path), 404) == {"detail": "Not found."}


def test_a_view_s_own_404_keeps_its_message(client, debug):
    assert json_error(client.get("/files/nothing-stored-here.pdf"), 404) == {"detail": "No such document."}


@pytest.mark.parametrize("path", ["/query", "/query/stream"])
def test_a_method_the_endpoint_does_not_take_is_a_json_405_with_its_allow_header(client, debug, path):
    response = client.get(path)
    assert json_error(response, 405) == {"detail": 'Method "GET" not allowed.'}
    assert "POST" in response["Allow"]


@pytest.mark.parametrize("path", ["/api/fail/", "/query/fail", "/files/fail"])
def test_an_unhandled_error_is_a_json_500_that_leaks_nothing(failing, debug, path, caplog):
    response = failing.get(path)
    assert json_error(response, 500) == {"detail": "A server error occurred."}
    assert LEAKED not in response.content.decode()
    assert LEAKED in caplog.text  # the traceback goes to the log, where staff look


def test_an_unhandled_error_in_a_rest_framework_view_is_a_json_500(staff_client, debug, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError(LEAKED)

    monkeypatch.setattr("documents.selectors.document_list", broken)
    staff_client.raise_request_exception = False
    response = staff_client.get("/api/documents/")
    assert json_error(response, 500) == {"detail": "A server error occurred."}
    assert LEAKED not in response.content.decode()


@pytest.mark.parametrize("path", ["/nowhere/", "/admin/nowhere/"])
def test_pages_for_people_keep_django_s_html_404(staff_client, debug, path):
    response = staff_client.get(path)
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_pages_for_people_keep_django_s_html_500(failing, debug):
    response = failing.get("/fail/")
    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")


def test_the_favicon_is_served(client, debug):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] in {"image/x-icon", "image/vnd.microsoft.icon"}
    assert b"".join(response.streaming_content).startswith(ICO_MAGIC)


@pytest.mark.django_db(transaction=True)
def test_under_uvicorn_with_debug_on_the_api_answers_json_and_the_favicon_is_there(tmp_path):
    """As `make run` starts it: uvicorn, DEBUG=true."""
    port, log = free_port(), tmp_path / "server.log"
    env = process_env(
        tmp_path, DEBUG="true", settings={"ROOT_URLCONF": "tests.urls_with_failures"}, RAGSITE_ANONYMOUS_QUERIES="true"
    )
    with running(web_args(port), env, log):
        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/api/schema/", log=log)
        with httpx.Client(base_url=base, timeout=30) as http:
            assert json_error(http.get("/api/conversations/abc/"), 404) == {"detail": "Not found."}
            assert json_error(http.get("/query/stream"), 405) == {"detail": 'Method "GET" not allowed.'}
            failed = http.get("/api/fail/")
            assert json_error(failed, 500) == {"detail": "A server error occurred."}
            assert LEAKED not in failed.text
            icon = http.get("/favicon.ico")
            assert icon.status_code == 200 and icon.content.startswith(ICO_MAGIC)
            assert http.get("/nowhere/").headers["Content-Type"].startswith("text/html")
    server_log = log.read_text()
    assert LEAKED in server_log  # the traceback is in the server's log
    assert "Not Found: /favicon.ico" not in server_log
