from asgiref.sync import async_to_sync
from django.core.validators import validate_slug
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from access.fields import StrictCharField, StrictIntegerField
from access.parsers import JSONParser
from access.permissions import MayAsk
from access.rest import query_params
from access.throttles import QueryAnonThrottle, QueryUserThrottle
from documents.models import ID_MAX
from documents.readable import collections_named, request_collection_ids
from documents.search.api import DocumentIdsField
from documents.selectors import document_ids_missing
from querying import conversations, services
from querying.errors import CONVERSATION_NOT_FOUND, FAILURES, failure_response
from querying.executor import retrieval_executor
from querying.sources import CITATIONS_HELP, SourceSerializer


class StoredSourceSerializer(SourceSerializer):
    removed = serializers.BooleanField(
        help_text="its document has been deleted since (the text stays, the link no longer opens), or you may no longer "
        "read it (nothing of it is shown)"
    )


NotFoundSerializer = inline_serializer("NotFoundResponse", {"detail": serializers.CharField()})

ErrorSerializer = inline_serializer(
    "LLMErrorResponse",
    {
        "error": inline_serializer(
            "LLMErrorDetail",
            {"code": serializers.CharField(), "message": serializers.CharField(), "retryable": serializers.BooleanField()},
        )
    },
)


def question_options(request, data) -> dict:
    """A question's options for querying.services.answer_prepare, from a request DRF has admitted
    (POST /query, or the stream through access.rest.drf_admit): its body validated (a
    ValidationError is a 400) and its conversation, when it names one, checked to be the asker's
    (ConversationNotFound otherwise), and what it may read: the collections the asker reads, or
    of those the ones it names (CollectionNotFound for a slug it may not read, as for one that
    does not exist)."""
    serializer = QueryApi.InputSerializer(data=data)
    serializer.is_valid(raise_exception=True)
    options = dict(serializer.validated_data)
    readable = request_collection_ids(request)  # read now, every question: no grant is cached
    # A document the asker may not read is "no document" exactly as one that does not exist.
    if missing := document_ids_missing(options.get("document_ids") or [], collection_ids=readable):
        raise ValidationError({"document_ids": [f"No documents with the ids {', '.join(map(str, missing))}."]})
    slugs = options.pop("collections", None)
    options["collection_ids"] = collections_named(slugs=slugs, collection_ids=readable) if slugs else readable
    owner = conversations.conversation_owner(request)  # reads the session
    options["owner"] = owner
    if options.get("conversation_id") is not None:
        conversations.conversation_get(owner=owner, conversation_id=options["conversation_id"])
    return options


class QueryApi(APIView):
    """Answer a question from the documents (the whole answer at once; POST /query/stream streams it)."""

    permission_classes = [MayAsk]  # managing documents is staff-only
    throttle_classes = [QueryUserThrottle, QueryAnonThrottle]
    parser_classes = [JSONParser]

    class InputSerializer(serializers.Serializer):
        question = StrictCharField(max_length=4000)
        top_k = StrictIntegerField(default=5, min_value=1, max_value=20)
        document_ids = DocumentIdsField(required=False, allow_empty=True)
        collections = serializers.ListField(
            child=StrictCharField(max_length=64, validators=[validate_slug]), required=False, allow_empty=True,
            max_length=100,
            help_text="search only these collections (slugs) of those you may read; absent or empty: all of them",
        )
        conversation_id = StrictIntegerField(
            min_value=1, max_value=ID_MAX, required=False, allow_null=True,
            help_text="continue this conversation of yours (GET /api/conversations/); absent or null: start a new one",
        )

    class OutputSerializer(serializers.Serializer):
        answer = serializers.CharField()
        mode = serializers.CharField(help_text="which provider answered: extractive, openai:gpt-4o-mini, ...")
        sources = SourceSerializer(many=True)
        not_found = serializers.BooleanField(
            help_text="the answer says the documents do not hold it; `sources` are then only the closest passages"
        )
        reranked = serializers.BooleanField()
        timings = serializers.DictField(child=serializers.FloatField(), help_text="milliseconds per stage")
        usage = serializers.DictField()
        search_query = serializers.CharField(
            help_text="what was searched: the question, or (a follow-up in a conversation) its standalone rewrite"
        )
        conversation_id = serializers.IntegerField(help_text="the conversation this answer belongs to: send it with the next question")
        citations = serializers.ListField(child=serializers.IntegerField(), help_text=CITATIONS_HELP)

    @extend_schema(request=InputSerializer, responses={
        200: OutputSerializer,
        404: OpenApiResponse(NotFoundSerializer, description="conversation_id is no conversation of yours, or a slug of `collections` no collection you may read"),
        502: OpenApiResponse(ErrorSerializer, description="the answer provider refused the question"),
        503: OpenApiResponse(ErrorSerializer, description="try again later (Retry-After when the server is busy): the provider timed out or is rate-limited, there is no search index yet, or every retrieval slot is taken and the queue in front of them is full"),
    })
    def post(self, request):
        """The same answer as the stream's, its events gathered (querying.services.answer_collect)."""
        try:
            options = question_options(request, request.data)
            plan = retrieval_executor().submit(services.answer_prepare, **options).wait()
        except FAILURES as exc:
            status_code, body, headers = failure_response(exc)
            return Response(body, status=status_code, headers=headers)
        answer = async_to_sync(services.answer_collect)(plan=plan)
        if answer.error is not None:
            return Response({"error": answer.error}, status=503 if answer.error["retryable"] else 502)
        return Response(self.OutputSerializer(answer).data)


class ConversationOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField(help_text="the first question, until renamed")
    message_count = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField(help_text="when it was last asked in or renamed")


class MessageOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    question = serializers.CharField()
    answer = serializers.CharField(allow_blank=True)
    search_query = serializers.CharField(allow_blank=True, help_text="what was searched for this question")
    sources = StoredSourceSerializer(many=True, help_text="the passages as shown with the answer")
    citations = serializers.ListField(child=serializers.IntegerField(), help_text=CITATIONS_HELP)
    not_found = serializers.BooleanField()
    mode = serializers.CharField(allow_blank=True)
    error = serializers.DictField(allow_null=True, help_text="the provider's failure, when the answer stopped on one")
    timings = serializers.DictField(child=serializers.FloatField())
    usage = serializers.DictField()
    created_at = serializers.DateTimeField()


class ConversationPagination(LimitOffsetPagination):
    max_limit = 1000


def _owned(request, conversation_id: int):
    try:
        owner = conversations.conversation_owner(request, create=False)
        return conversations.conversation_get(owner=owner, conversation_id=conversation_id)
    except conversations.ConversationNotFound:
        raise NotFound(CONVERSATION_NOT_FOUND) from None


class ConversationListApi(APIView):
    """Your conversations, most recently used first: a user's own, an API key's own, or (anonymous
    on the page) the browser session's."""

    permission_classes = [MayAsk]  # reads of one's own rows: not counted against the questions' throttles

    class FilterSerializer(serializers.Serializer):
        limit = serializers.IntegerField(min_value=1, max_value=ConversationPagination.max_limit, required=False)
        offset = serializers.IntegerField(min_value=0, max_value=ID_MAX, required=False)

    class OutputSerializer(serializers.Serializer):
        count = serializers.IntegerField()
        next = serializers.URLField(allow_null=True)
        previous = serializers.URLField(allow_null=True)
        results = ConversationOutputSerializer(many=True)

    @extend_schema(operation_id="api_conversations_list", parameters=[FilterSerializer], responses=OutputSerializer)
    def get(self, request):
        self.FilterSerializer(data=query_params(request)).is_valid(raise_exception=True)
        paginator = ConversationPagination()
        owner = conversations.conversation_owner(request, create=False)
        page = paginator.paginate_queryset(conversations.conversation_list(owner=owner), request, view=self)
        return paginator.get_paginated_response(ConversationOutputSerializer(page, many=True).data)


class ConversationDetailApi(APIView):
    """One of your conversations with its messages (GET), renamed (PATCH) or deleted (DELETE)."""

    permission_classes = [MayAsk]
    parser_classes = [JSONParser]

    class InputSerializer(serializers.Serializer):
        title = StrictCharField(max_length=200, help_text="the conversation's new name")

    class OutputSerializer(ConversationOutputSerializer):
        messages = MessageOutputSerializer(many=True, source="shown_messages", help_text="oldest first")

    @extend_schema(responses={200: OutputSerializer, 404: NotFoundSerializer})
    def get(self, request, conversation_id):
        conversation = _owned(request, conversation_id)
        conversation.shown_messages = conversations.message_list(
            conversation=conversation, collection_ids=request_collection_ids(request)
        )
        return Response(self.OutputSerializer(conversation).data)

    @extend_schema(request=InputSerializer, responses={200: ConversationOutputSerializer, 404: NotFoundSerializer})
    def patch(self, request, conversation_id):
        conversation = _owned(request, conversation_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        conversations.conversation_rename(conversation=conversation, title=serializer.validated_data["title"])
        return Response(ConversationOutputSerializer(conversation).data)

    @extend_schema(responses={204: None, 404: NotFoundSerializer})
    def delete(self, request, conversation_id):
        conversations.conversation_delete(conversation=_owned(request, conversation_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
