"""The admin's document list and change page in a real browser (headless Chromium, Playwright,
the live server): issue 35, "the admin list does not update". A 42-page PDF showed "queued
0/42" until the page was reloaded. While a shown document is queued, processing or waiting for
the search index, the page now follows it without a reload, and stops asking once none moves.

The tests change the document's row in the database, as a worker would, and watch the page."""

import itertools
import time

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from playwright.sync_api import expect

from documents.models import Document
from tests.test_page_browser import _orm_beside_playwright, browser  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LIVE_PATH = "/admin/documents/document/live/"
_serial = itertools.count()


def make_document(**fields) -> Document:
    n = next(_serial)
    document = Document(title=f"Manual {n}", original_filename=f"manual{n}.pdf", sha256=f"{n:064x}", **fields)
    document.file.save(f"manual{n}.pdf", ContentFile(b"%PDF-1.4 stub"), save=False)
    document.save()
    return document


@pytest.fixture
def admin_page(browser, live_server, django_user_model, client):  # noqa: F811
    """A page signed in as staff; page.live_requests lists the live endpoint's requests."""
    user = django_user_model.objects.create_user("staff", is_staff=True, is_superuser=True)
    client.force_login(user)
    context = browser.new_context(base_url=live_server.url)
    context.add_cookies([{
        "name": settings.SESSION_COOKIE_NAME, "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
        "url": live_server.url,
    }])
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.problems, page.live_requests = [], []
    page.on("pageerror", lambda exc: page.problems.append(f"script error: {exc}"))
    page.on("request", lambda request: LIVE_PATH in request.url and page.live_requests.append(request.url))
    yield page
    context.close()
    assert page.problems == []


def mark_unreloaded(page):
    page.evaluate("window.__notReloaded = true")


def still_unreloaded(page) -> bool:
    return page.evaluate("window.__notReloaded === true")


def assert_polling_stopped(page, seconds: float = 5):
    before = len(page.live_requests)
    time.sleep(seconds)
    assert len(page.live_requests) == before, page.live_requests


def test_the_document_list_follows_a_document_until_it_is_searchable_then_stops_asking(admin_page):
    document = make_document(status=Document.Status.QUEUED, page_count=42)
    finished = make_document(status=Document.Status.READY, page_count=3, pages_done=3, generation=1, indexed_generation=1)
    admin_page.goto("/admin/documents/document/")
    row = admin_page.locator("#result_list tr").filter(has_text=document.title)
    expect(row.locator("td.field-progress")).to_have_text("0/42 pages (0%)")
    mark_unreloaded(admin_page)

    Document.objects.filter(pk=document.pk).update(status="processing", pages_done=21, progress_note="OCR: page 22 of 42")
    expect(row.locator("td.field-status_badge")).to_have_text("processing")
    expect(row.locator("td.field-progress")).to_have_text("21/42 pages (50%) · OCR: page 22 of 42")

    # Ready, but not yet in the search index: the list still follows it...
    Document.objects.filter(pk=document.pk).update(status="ready", pages_done=42, progress_note="", chunk_count=97, generation=1)
    expect(row.locator("td.field-search")).to_have_text("waiting for the search index")
    expect(row.locator("td.field-chunk_count")).to_have_text("97")
    # ...until a question can find it.
    Document.objects.filter(pk=document.pk).update(indexed_generation=1)
    expect(row.locator("td.field-search")).to_have_text("yes")
    expect(row.locator("td.field-status_badge")).to_have_text("ready")
    assert still_unreloaded(admin_page)
    # Only the document that moved was asked about, and nothing is asked once none moves.
    assert admin_page.live_requests and all(f"id={finished.pk}" not in url for url in admin_page.live_requests)
    assert_polling_stopped(admin_page)


def test_the_change_page_follows_status_progress_and_the_ocr_note(admin_page):
    document = make_document(status=Document.Status.QUEUED, page_count=42)
    admin_page.goto(f"/admin/documents/document/{document.pk}/change/")
    expect(admin_page.locator(".field-status .readonly")).to_have_text("Queued")
    mark_unreloaded(admin_page)

    Document.objects.filter(pk=document.pk).update(status="processing", pages_done=7, progress_note="OCR: page 8 of 42")
    expect(admin_page.locator(".field-status .readonly")).to_have_text("Processing")
    expect(admin_page.locator(".field-pages_done .readonly")).to_have_text("7")
    expect(admin_page.locator(".field-progress_note .readonly")).to_have_text("OCR: page 8 of 42")

    Document.objects.filter(pk=document.pk).update(status="failed", progress_note="", error="page 9 of scan.pdf <b>could not</b> be read")
    expect(admin_page.locator(".field-status .readonly")).to_have_text("Failed")
    expect(admin_page.locator(".field-error .readonly")).to_have_text("page 9 of scan.pdf <b>could not</b> be read")
    assert still_unreloaded(admin_page)
    assert_polling_stopped(admin_page)


def test_a_page_where_nothing_moves_asks_nothing(admin_page):
    make_document(status=Document.Status.READY, page_count=3, pages_done=3, generation=1, indexed_generation=1)
    failed = make_document(status=Document.Status.FAILED, error="no text")
    admin_page.goto("/admin/documents/document/")
    admin_page.goto(f"/admin/documents/document/{failed.pk}/change/")
    assert_polling_stopped(admin_page, seconds=3)
    assert admin_page.live_requests == []
