"""Who may do what: API keys (made in the admin, shown once, stored as SHA-256, revocable), the
anonymous switch, throttles per user, per address and on login, and the PDFs served only
through a view that checks the document and the asker."""

import hashlib
import json
import re

import pytest
from django.core.files.base import ContentFile
from django.test import Client

from access.models import ApiKey
from access.services import api_key_create, api_key_revoke
from documents.models import Document
from documents.services import document_create
from tests.pdfs import text_pdf

# The extractive mode and the ingested, indexed kettle manual of the endpoint tests.
from tests.test_query_endpoints import QUESTION, _answer_settings, kettle  # noqa: F401

# Transactional: /query/stream retrieves in a pool thread, whose connection sees only committed rows.
pytestmark = pytest.mark.django_db(transaction=True)


def bearer(key):
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}


def ask(client, path="/query", **extra):
    response = client.post(path, json.dumps({"question": QUESTION}), content_type="application/json", **extra)
    if response.streaming:
        b"".join(response)
    return response


@pytest.fixture
def closed(settings):
    """Questions need credentials, as in production."""
    settings.RAGSITE_ANONYMOUS_QUERIES = False


# --- API keys ----------------------------------------------------------------------------------


def test_a_key_made_in_the_admin_is_shown_once_and_stored_only_as_its_sha256(staff_client, django_user_model):
    client_user = django_user_model.objects.create_user("importer")
    response = staff_client.post("/admin/access/apikey/add/", {"user": client_user.pk, "name": "nightly import"})
    assert response.status_code == 200
    key = re.search(r'value="(rag_[A-Za-z0-9_-]{40,})"', response.content.decode()).group(1)
    stored = ApiKey.objects.get()
    assert stored.user == client_user and stored.name == "nightly import"
    assert stored.key_sha256 == hashlib.sha256(key.encode()).hexdigest() and key.startswith(stored.prefix)
    row = ApiKey.objects.filter(pk=stored.pk).values().get()
    assert not any(key in str(value) for value in row.values())  # the key itself is nowhere in the row
    listing = staff_client.get(f"/admin/access/apikey/{stored.pk}/change/").content.decode()
    assert key not in listing and stored.prefix in listing  # never shown again


def test_a_key_authenticates_its_user_until_it_is_revoked(kettle, closed, django_user_model):
    user = django_user_model.objects.create_user("reader")
    api_key, key = api_key_create(user=user, name="reader's script")
    client = Client()
    assert ask(client).status_code == 401
    assert ask(client, **bearer(key)).status_code == 200
    assert ask(client, "/query/stream", **bearer(key)).status_code == 200
    api_key.refresh_from_db()
    assert api_key.last_used_at is not None

    api_key_revoke(api_key=api_key)
    refused = ask(client, **bearer(key))
    assert refused.status_code == 401 and refused.json() == {"detail": "Unknown or revoked API key."}
    assert refused["WWW-Authenticate"] == 'Bearer realm="api"'
    assert ask(client, "/query/stream", **bearer(key)).status_code == 401
    assert ask(client, **bearer("rag_" + "x" * 43)).status_code == 401


def test_the_admin_revokes_keys(staff_client, django_user_model):
    api_key, key = api_key_create(user=django_user_model.objects.create_user("bot"), name="bot")
    staff_client.post("/admin/access/apikey/", {"action": "revoke_selected", "_selected_action": [api_key.pk]})
    api_key.refresh_from_db()
    assert api_key.revoked_at is not None
    assert Client().get("/api/documents/", **bearer(key)).status_code == 401


def test_the_document_api_takes_a_staff_key_and_refuses_other_keys(django_user_model):
    _, staff_key = api_key_create(user=django_user_model.objects.create_user("ops", is_staff=True), name="ops")
    _, reader_key = api_key_create(user=django_user_model.objects.create_user("reader"), name="reader")
    client = Client()
    assert client.get("/api/documents/", **bearer(staff_key)).status_code == 200
    assert client.get("/api/documents/", **bearer(reader_key)).status_code == 403
    anonymous = client.get("/api/documents/")
    assert anonymous.status_code == 401 and anonymous["WWW-Authenticate"] == 'Bearer realm="api"'
    # Basic auth is gone: a password per request would be a way round the login throttle.
    assert client.get("/api/documents/", HTTP_AUTHORIZATION="Basic b3BzOnB3").status_code == 401


# --- the anonymous switch ----------------------------------------------------------------------


def test_with_anonymous_questions_off_only_logged_in_users_ask(kettle, closed, django_user_model):
    anonymous = Client()
    for path in ("/query", "/query/stream"):
        refused = ask(anonymous, path)
        assert refused.status_code == 401 and refused["Content-Type"].startswith("application/json")
    assert 'id="login-needed"' in anonymous.get("/").content.decode()

    member = Client()
    member.force_login(django_user_model.objects.create_user("member"))
    assert ask(member).json()["answer"]
    assert ask(member, "/query/stream").status_code == 200
    assert 'id="login-needed"' not in member.get("/").content.decode()


def test_anonymous_questions_follow_debug_unless_set():
    from tests.test_safe_defaults import read_settings

    assert read_settings(["RAGSITE_ANONYMOUS_QUERIES"], DEBUG="true")[0] == {"RAGSITE_ANONYMOUS_QUERIES": "True"}
    off, _ = read_settings(["RAGSITE_ANONYMOUS_QUERIES"], SECRET_KEY="k" * 50, RAGSITE_ANONYMOUS_QUERIES="")
    assert off == {"RAGSITE_ANONYMOUS_QUERIES": "False"}


# --- throttles ---------------------------------------------------------------------------------


def test_anonymous_askers_are_throttled_per_address_on_both_query_endpoints(kettle, settings):
    settings.RAGSITE_THROTTLE_RATES = {**settings.RAGSITE_THROTTLE_RATES, "query_anon": "3/min"}
    here = Client(REMOTE_ADDR="203.0.113.7")
    assert [ask(here).status_code, ask(here, "/query/stream").status_code, ask(here).status_code] == [200, 200, 200]
    throttled = ask(here, "/query/stream")
    assert throttled.status_code == 429 and throttled["Content-Type"].startswith("application/json")
    assert 0 < int(throttled["Retry-After"]) <= 60
    assert ask(here).status_code == 429
    # A made-up X-Forwarded-For does not make a new client; another address is one.
    assert ask(here, HTTP_X_FORWARDED_FOR="198.51.100.1").status_code == 429
    assert ask(Client(REMOTE_ADDR="203.0.113.8")).status_code == 200


def test_users_are_throttled_each_on_their_own(kettle, settings, django_user_model):
    settings.RAGSITE_THROTTLE_RATES = {**settings.RAGSITE_THROTTLE_RATES, "query_user": "2/min", "query_anon": None}
    _, first = api_key_create(user=django_user_model.objects.create_user("first"), name="first")
    _, second = api_key_create(user=django_user_model.objects.create_user("second"), name="second")
    client = Client()
    assert [ask(client, **bearer(first)).status_code for _ in range(3)] == [200, 200, 429]
    assert ask(client, **bearer(second)).status_code == 200
    assert ask(client).status_code == 200  # anonymous: not this throttle's


def test_wrong_admin_passwords_are_throttled_and_a_right_one_then_waits(django_user_model):
    django_user_model.objects.create_superuser("admin", "admin@localhost", "the right passphrase")
    browser = Client(REMOTE_ADDR="192.0.2.10")
    for _ in range(10):
        response = browser.post("/admin/login/", {"username": "admin", "password": "guess"})
        assert response.status_code == 200 and "Please enter the correct username" in response.content.decode()
    refused = browser.post("/admin/login/", {"username": "admin", "password": "the right passphrase"})
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert "_auth_user_id" not in browser.session
    # The same account from another address is throttled too (guessing spread over addresses).
    elsewhere = Client(REMOTE_ADDR="192.0.2.99")
    assert elsewhere.post("/admin/login/", {"username": "ADMIN", "password": "the right passphrase"}).status_code == 429
    # Another account from another address still logs in.
    django_user_model.objects.create_superuser("editor", "editor@localhost", "editor passphrase")
    assert elsewhere.post("/admin/login/", {"username": "editor", "password": "editor passphrase"}).status_code == 302


def test_an_unreachable_throttle_cache_lets_questions_through(kettle, settings):
    from tests.processes import free_port

    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": f"redis://127.0.0.1:{free_port()}/0"}
    }
    assert ask(Client()).status_code == 200


@pytest.mark.production
def test_throttles_count_in_redis_so_every_process_sees_the_same_count(kettle, settings):
    import os

    import redis

    from tests.processes import require_production_services

    url = require_production_services(os.environ.get("RAGSITE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"))
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}}
    settings.RAGSITE_THROTTLE_RATES = {**settings.RAGSITE_THROTTLE_RATES, "query_anon": "2/min"}
    client = Client(REMOTE_ADDR="203.0.113.50")
    assert [ask(client).status_code for _ in range(3)] == [200, 200, 429]
    keys = [key.decode() for key in redis.Redis.from_url(url).keys("*throttle_query_anon_203.0.113.50*")]
    assert len(keys) == 1  # where another web process reads the same history


# --- the PDFs ----------------------------------------------------------------------------------


def file_path(url):
    return url.split("#", 1)[0]


def test_sources_link_to_the_pdf_through_the_checking_view_under_a_generated_name(kettle):
    source = ask(Client()).json()["sources"][0]
    path = file_path(source["url"])
    assert re.fullmatch(r"/files/documents/[0-9a-f]{32}\.pdf", path) and source["url"].endswith(f"#page={source['page']}")
    assert "kettle" not in path  # the uploader's file name is not on disk or in the link
    response = Client().get(path)
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert b"".join(response.streaming_content).startswith(b"%PDF-")
    assert response["Content-Disposition"] == 'inline; filename="kettle.pdf"'
    assert "private" in response["Cache-Control"]
    assert Client().get(f"/media/{kettle.file.name}").status_code == 404  # no public media folder any more


def test_a_pdf_that_is_not_ready_is_only_for_staff(staff_client):
    queued = document_create(file=ContentFile(text_pdf(["Draft notes."]), name="draft.pdf"), enqueue=False)
    assert queued.status == Document.Status.QUEUED
    anonymous = Client().get(queued.file.url)
    assert anonymous.status_code == 404 and anonymous.json() == {"detail": "No such document."}
    assert staff_client.get(queued.file.url).status_code == 200  # the admin links to it


def test_with_anonymous_questions_off_the_pdfs_need_credentials_too(kettle, closed, django_user_model):
    assert Client().get(kettle.file.url).status_code == 401
    _, key = api_key_create(user=django_user_model.objects.create_user("reader"), name="reader")
    assert Client().get(kettle.file.url, **bearer(key)).status_code == 200


@pytest.mark.parametrize("header", ["X-Accel-Redirect", "X-Sendfile"])
def test_in_production_the_web_server_sends_the_bytes(kettle, settings, header):
    settings.RAGSITE_FILES_SENDFILE = header
    settings.RAGSITE_FILES_ACCEL_PREFIX = "/protected-pdfs/"
    response = Client().get(kettle.file.url)
    assert response.status_code == 200 and response.content == b"" and response["Content-Type"] == "application/pdf"
    expected = f"/protected-pdfs/{kettle.file.name}" if header == "X-Accel-Redirect" else kettle.file.path
    assert response[header] == expected
    assert response["Content-Disposition"] == 'inline; filename="kettle.pdf"'


def test_a_misspelt_sendfile_setting_stops_the_start():
    from tests.test_safe_defaults import read_settings

    _, errors = read_settings(["RAGSITE_FILES_SENDFILE"], DEBUG="true", RAGSITE_FILES_SENDFILE="x-accel")
    assert "RAGSITE_FILES_SENDFILE must be empty, X-Accel-Redirect or X-Sendfile, got 'x-accel'" in errors
