"""Included at api/search/ by ragsite/urls.py."""

from django.urls import path

from documents.search import api

urlpatterns = [
    path("", api.SearchApi.as_view(), name="search"),
    path("status/", api.SearchStatusApi.as_view(), name="search-status"),
]
