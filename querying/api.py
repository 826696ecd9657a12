from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from access.fields import StrictCharField, StrictIntegerField
from access.parsers import JSONParser
from access.permissions import MayAsk
from access.throttles import QueryAnonThrottle, QueryUserThrottle
from documents.models import ID_MAX
from documents.search.errors import SearchError
from querying import services
from querying.admission import QueueFull, retrieval_gate
from querying.llm.base import LLMError


class QueryInputSerializer(serializers.Serializer):
    question = StrictCharField(max_length=4000)
    top_k = StrictIntegerField(default=5, min_value=1, max_value=20)
    document_ids = serializers.ListField(
        child=StrictIntegerField(min_value=1, max_value=ID_MAX), required=False, allow_empty=True, max_length=1000
    )


class SourceSerializer(serializers.Serializer):
    n = serializers.IntegerField(help_text="the [n] that cites this passage in the answer")
    chunk_id = serializers.IntegerField()
    document_id = serializers.IntegerField()
    title = serializers.CharField()
    page = serializers.IntegerField()
    text = serializers.CharField()
    score = serializers.FloatField()
    url = serializers.CharField(help_text="the stored PDF, opened at the page: file URL + #page=N")
    highlights = serializers.ListField(
        child=serializers.ListField(child=serializers.IntegerField(), min_length=2, max_length=2),
        help_text="[start, end) character spans of `text` that hold the question's search terms",
    )
    cited = serializers.BooleanField(help_text="whether the answer cites this passage as [n]")


ErrorSerializer = inline_serializer(
    "LLMErrorResponse",
    {
        "error": inline_serializer(
            "LLMErrorDetail",
            {"code": serializers.CharField(), "message": serializers.CharField(), "retryable": serializers.BooleanField()},
        )
    },
)


def error_status_and_body(error: Exception) -> tuple[int, dict]:
    """The HTTP status and JSON body for a failure to answer: 503 when trying again later may
    help (timeouts, rate limits, no search index yet), 502 when the provider refused."""
    if isinstance(error, SearchError):
        code, message, retryable = "search_unavailable", str(error), True
    else:
        code, message, retryable = error.code, error.message, error.retryable
    http_status = status.HTTP_503_SERVICE_UNAVAILABLE if retryable else status.HTTP_502_BAD_GATEWAY
    return http_status, {"error": {"code": code, "message": message, "retryable": retryable}}


def queue_full_body(full: QueueFull) -> dict:
    """The 503 answer (with Retry-After) when every retrieval slot is taken and the queue is full."""
    return {"error": {"code": "busy", "message": full.message, "retryable": True}}


def llm_error_response(error: Exception) -> Response:
    http_status, body = error_status_and_body(error)
    return Response(body, status=http_status)


class QueryApi(APIView):
    """Answer a question from the documents (the whole answer at once; POST /query/stream streams it)."""

    permission_classes = [MayAsk]  # managing documents is staff-only
    throttle_classes = [QueryUserThrottle, QueryAnonThrottle]
    parser_classes = [JSONParser]
    InputSerializer = QueryInputSerializer

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

    @extend_schema(request=QueryInputSerializer, responses={
        200: OutputSerializer,
        502: OpenApiResponse(ErrorSerializer, description="the answer provider refused the question"),
        503: OpenApiResponse(ErrorSerializer, description="try again later (Retry-After when the server is busy): the provider timed out or is rate-limited, there is no search index yet, or every retrieval slot is taken and the queue in front of them is full"),
    })
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            ticket = retrieval_gate().admit()
        except QueueFull as full:
            return Response(queue_full_body(full), status=503, headers={"Retry-After": str(full.retry_after)})
        try:
            ticket.wait_sync()
            plan = services.answer_prepare(**serializer.validated_data)
        except (LLMError, SearchError) as error:
            return llm_error_response(error)
        finally:
            ticket.release()
        answer = services.answer_generate(plan=plan)
        if answer.error is not None:
            return llm_error_response(answer.error)
        return Response(self.OutputSerializer(answer).data)
