from django.urls import path

from querying import page
from querying.api import QueryApi
from querying.views import query_stream

urlpatterns = [
    path("", page.ask_page, name="ask"),
    path("query", QueryApi.as_view(), name="query"),
    path("query/stream", query_stream, name="query-stream"),
]
