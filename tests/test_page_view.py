"""The ask page as the Django test client sees it: what the server renders before any script runs."""

import itertools
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import reverse

from documents.models import Document
from querying.llm import LLMProvider

pytestmark = pytest.mark.django_db

_serial = itertools.count()


def make_document(title, status):
    n = next(_serial)
    document = Document(title=title, original_filename=f"doc{n}.pdf", sha256=f"{n:064x}", status=status)
    document.file.save(f"doc{n}.pdf", ContentFile(b"%PDF-1.4 stub"), save=False)
    document.save()
    return document


class NamedProvider(LLMProvider):
    name = "test:named-model"

    def stream(self, system, messages):
        yield "unused"


def test_page_renders_the_form_the_script_needs_and_sets_the_csrf_cookie(client):
    response = client.get("/")

    assert response.status_code == 200
    assert response.resolver_match.view_name == "ask"
    html = response.content.decode()
    for needle in ('id="ask-form"', 'id="question"', 'id="ask-button"', 'id="stop-button"', 'id="answer-text"',
                   'aria-live="polite"', 'data-stream-url="/query/stream"',
                   "/static/querying/ask.js", "/static/querying/ask.css"):
        assert needle in html, needle
    # The script sends this token as X-CSRFToken; the cookie it belongs to must be set with the page.
    token = response.context["csrf_token"]
    assert f'<meta name="csrf-token" content="{token}">' in html
    assert "csrftoken" in response.cookies


def test_status_line_counts_each_status_and_only_ready_documents_are_offered_as_filters(client):
    make_document("Pump manual", Document.Status.READY)
    make_document("Boiler guide", Document.Status.READY)
    make_document("Still going", Document.Status.PROCESSING)
    make_document("Waiting", Document.Status.QUEUED)
    make_document("Broken scan", Document.Status.FAILED)

    html = client.get("/").content.decode()

    assert "2 ready" in html
    assert "2 processing" in html  # queued and processing alike: not answerable yet
    assert "1 failed" in html
    assert 'name="document_ids"' in html
    assert "Pump manual" in html and "Boiler guide" in html
    assert "Still going" not in html and "Broken scan" not in html and "Waiting" not in html


def test_staff_get_status_links_into_the_admin_filtered_by_status(staff_client):
    make_document("Broken scan", Document.Status.FAILED)
    changelist = reverse("admin:documents_document_changelist")

    staff_html = staff_client.get("/").content.decode()
    anonymous_html = Client().get("/").content.decode()

    assert f'href="{changelist}?status__exact=failed"' in staff_html
    assert f'href="{changelist}?status__exact=failed"' not in anonymous_html
    assert "1 failed" in anonymous_html


def test_an_empty_corpus_says_so_instead_of_offering_a_filter(client):
    html = client.get("/").content.decode()
    assert "No document is ready yet" in html
    assert 'name="document_ids"' not in html

    make_document("Still going", Document.Status.PROCESSING)
    assert "1 document is still being processed" in client.get("/").content.decode()

    make_document("Pump manual", Document.Status.READY)
    assert "No document is ready yet" not in client.get("/").content.decode()


def test_document_titles_are_escaped(client):
    make_document('<script>alert("x")</script>', Document.Status.READY)

    html = client.get("/").content.decode()

    assert '<script>alert("x")</script>' not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html


def test_page_names_the_configured_answer_mode(client, settings):
    settings.RAGSITE_LLM = {"BACKEND": f"{__name__}.NamedProvider", "OPTIONS": {}}

    html = client.get("/").content.decode()

    assert 'data-configured="test:named-model"' in html
    assert 'Answers: <span id="configured-mode">test:named-model</span>' in html


def test_a_broken_provider_setting_does_not_take_the_page_down(client, settings):
    settings.RAGSITE_LLM = {"BACKEND": "querying.llm.nowhere.MissingProvider", "OPTIONS": {}}

    response = client.get("/")

    assert response.status_code == 200
    assert 'data-configured="MissingProvider"' in response.content.decode()


def test_a_shared_link_prefills_the_question(client):
    html = client.get("/", {"question": "How hot does the <boiler> get?"}).content.decode()

    assert "How hot does the &lt;boiler&gt; get?</textarea>" in html


def test_page_costs_three_queries_however_many_documents(client, django_assert_num_queries):
    for i in range(30):
        make_document(f"Manual {i}", Document.Status.READY)

    with django_assert_num_queries(3):  # the collections the asker reads, the status counts and the ready documents
        response = client.get("/")
    assert response.content.decode().count('name="document_ids"') == 30


def test_page_refuses_post(client):
    assert client.post("/", {"question": "x"}).status_code == 405


def test_a_visitor_who_may_not_ask_sees_a_sign_in_link_and_nothing_of_the_corpus(client, settings):
    """Issue 37: with anonymous questions off, the page listed every ready document's id and
    title, and the corpus counts, to anyone."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.RAGSITE_ANONYMOUS_QUERIES = False
    pump = make_document("Pump manual", Document.Status.READY)
    make_document("Still going", Document.Status.PROCESSING)
    make_document("Broken scan", Document.Status.FAILED)

    with CaptureQueriesContext(connection) as queries:
        response = client.get("/?question=hot")
    html = response.content.decode()

    assert response.status_code == 200
    assert not [query["sql"] for query in queries if "documents_document" in query["sql"]]
    for leak in ("Pump manual", "Still going", "Broken scan", 'name="document_ids"', f'value="{pump.pk}"',
                 'id="corpus-status"', 'id="doc-filter"', "No document is ready yet"):
        assert leak not in html, leak
    assert not re.search(r"\d+\s+(ready|processing|failed)", html)
    login = reverse("admin:login")
    assert f'href="{login}?next=/%3Fquestion%3Dhot"' in html, html
    assert 'id="login-needed"' in html

    # Signed in, the same page shows the corpus.
    client.force_login(get_user_model().objects.create_user("member"))
    signed_in = client.get("/").content.decode()
    assert "Pump manual" in signed_in and "1 ready" in signed_in


QUOTED = "Answers are sentences quoted from the documents, not written by a language model."
# What an operator sets to plug a model in, one line each (the README's first screen says the same).
PLUG_IN = [
    "RAGSITE_LLM=openai RAGSITE_LLM_API_KEY=", "RAGSITE_LLM=anthropic RAGSITE_LLM_API_KEY=",
    "RAGSITE_LLM=groq RAGSITE_LLM_API_KEY=", "RAGSITE_LLM_MODEL", "RAGSITE_LLM=openai RAGSITE_LLM_BASE_URL=",
    "Ollama, llama.cpp, vLLM",
]


def test_the_extractive_mode_says_answers_are_quoted_and_staff_learn_how_to_plug_a_model_in(staff_client, settings):
    """Issue 35: the default mode was explained in the README only; the page said "extractive"."""
    settings.RAGSITE_LLM = {"BACKEND": "querying.llm.extractive.ExtractiveProvider", "OPTIONS": {}}

    staff_html = staff_client.get("/").content.decode()
    assert QUOTED in staff_html
    for line in PLUG_IN:
        assert line in staff_html, line

    # An asker of a site in production is told what the answers are, not the operator's settings.
    visitor = Client()
    visitor_html = visitor.get("/").content.decode()
    assert QUOTED in visitor_html
    assert "RAGSITE_LLM" not in visitor_html
    # With DEBUG on (make run), whoever opens the page is the one who started the app.
    settings.DEBUG = True
    demo_html = visitor.get("/").content.decode()
    for line in PLUG_IN:
        assert line in demo_html, line


def test_with_a_model_configured_the_page_does_not_say_answers_are_quoted(staff_client, settings):
    settings.RAGSITE_LLM = {"BACKEND": f"{__name__}.NamedProvider", "OPTIONS": {}}

    html = staff_client.get("/").content.decode()

    assert "test:named-model" in html
    assert QUOTED not in html and "quoted" not in html
    assert "RAGSITE_LLM" not in html
