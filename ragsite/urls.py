from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from access.views import admin_login
from documents.views import DocumentFileApi, DocumentTextApi

urlpatterns = [
    path("admin/login/", admin_login, name="admin-login"),  # throttled, before the admin's own
    path("admin/", admin.site.urls),
    path("api/documents/", include("documents.urls")),
    path("api/search/", include("documents.search.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("", include("querying.urls")),
    # Stored documents (their URLs: documents.storage.FILES_URL), so citations can open them at a
    # page or a section: only through these views, which check who asks. Stored names are
    # documents/<uuid>.<ext>, so text/... is never one.
    path("files/text/<path:name>", DocumentTextApi.as_view(), name="document-text"),
    path("files/<path:name>", DocumentFileApi.as_view(), name="document-file"),
]
# A path the API does not know is a JSON 404, as every other error under the API's paths, with
# DEBUG on or off: access.middleware.ApiErrorsMiddleware, not handler404 (which DEBUG skips).
