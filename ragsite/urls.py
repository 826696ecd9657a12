from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.static import serve
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/documents/", include("documents.urls")),
    path("api/search/", include("documents.search.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("", include("querying.urls")),
    # Stored PDFs, so citations can open them at a page. Behind a real web server, serve MEDIA_ROOT there.
    re_path(r"^media/(?P<path>.*)$", serve, {"document_root": settings.MEDIA_ROOT}),
]

# The API answers a path it does not know with JSON, as it answers everything else.
handler404 = "access.rest.not_found"
