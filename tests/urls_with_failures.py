"""The site's URLs, and in front of them a view that fails under each prefix, for the tests of
what an unhandled error answers (tests/test_error_pages.py)."""

from django.urls import path

from ragsite.urls import urlpatterns as site_urlpatterns

LEAKED = "a-secret-only-the-traceback-holds"


def fail(request):
    raise RuntimeError(LEAKED)


urlpatterns = [
    path("api/fail/", fail),
    path("query/fail", fail),
    path("files/fail", fail),
    path("fail/", fail),  # a page for people
    *site_urlpatterns,
]
