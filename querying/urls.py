from django.urls import path

from querying import page
from querying.api import ConversationDetailApi, ConversationListApi, QueryApi
from querying.views import query_stream

urlpatterns = [
    path("", page.ask_page, name="ask"),
    path("query", QueryApi.as_view(), name="query"),
    path("query/stream", query_stream, name="query-stream"),
    path("api/conversations/", ConversationListApi.as_view(), name="conversation-list"),
    path("api/conversations/<int:conversation_id>/", ConversationDetailApi.as_view(), name="conversation-detail"),
]
