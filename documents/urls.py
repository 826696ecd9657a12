from django.urls import path

from documents import api

urlpatterns = [
    path("", api.DocumentListApi.as_view(), name="document-list"),
    path("<int:document_id>/", api.DocumentDetailApi.as_view(), name="document-detail"),
    path("<int:document_id>/reingest/", api.DocumentReingestApi.as_view(), name="document-reingest"),
]
