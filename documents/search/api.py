from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from access.fields import StrictBooleanField, StrictCharField, StrictIntegerField
from access.parsers import JSONParser
from documents.models import ID_MAX
from documents.readable import request_collection_ids
from documents.search.errors import SearchError
from documents.search.selectors import chunk_search, search_status


class SearchStatusApi(APIView):
    """The search index's state; its counts are those of the collections the asker may read."""

    class OutputSerializer(serializers.Serializer):
        index_version = serializers.IntegerField(allow_null=True)
        loaded_version = serializers.IntegerField(allow_null=True, help_text="the version this process answers from")
        chunk_count = serializers.IntegerField()
        embedding_model = serializers.CharField()
        dimension = serializers.IntegerField()
        built_at = serializers.DateTimeField(allow_null=True)
        build_seconds = serializers.FloatField(allow_null=True)
        skipped_chunks = serializers.DictField(child=serializers.IntegerField())
        bm25_backend = serializers.CharField()
        index_error = serializers.CharField()
        rebuild_requested = serializers.BooleanField()
        building_since = serializers.DateTimeField(allow_null=True)
        last_error = serializers.CharField(help_text="why the last rebuild failed; empty after a good one")
        failed_at = serializers.DateTimeField(allow_null=True, help_text="when the last rebuild failed")
        reranker_model = serializers.CharField()
        reranker_loaded = serializers.BooleanField()
        reranker_error = serializers.CharField(help_text="why results are not reranked; empty when they are")

    @extend_schema(responses=OutputSerializer)
    def get(self, request):
        return Response(self.OutputSerializer(search_status(collection_ids=request_collection_ids(request))).data)


class DocumentIdsField(serializers.ListField):
    """A list of document ids, each within the ids a row can have (a question's or a search's
    narrowing to some documents)."""

    def __init__(self, **options):
        super().__init__(child=StrictIntegerField(min_value=1, max_value=ID_MAX), max_length=1000, **options)


class PassageSerializer(serializers.Serializer):
    """What every passage shown says of itself: a search result, and a source beside an answer
    (querying.sources.SourceSerializer)."""

    chunk_id = serializers.IntegerField()
    document_id = serializers.IntegerField()
    title = serializers.CharField()
    page = serializers.IntegerField(help_text="a PDF's page; the section's place in reading order for other formats")
    section = serializers.CharField(help_text="the heading path of a section-based document's passage (\" › \" between levels); \"\" for a PDF")
    anchor = serializers.CharField(help_text="where a citation opens the section: an element id or a slug")
    url = serializers.CharField(
        help_text="where a citation opens the passage: a PDF at its page (file URL + #page=N), an HTML page served "
        "sanitised at #anchor, the text view of another format at #anchor with the passage marked"
    )
    text = serializers.CharField()
    ocr = serializers.BooleanField(help_text="the text was recognised from the page's image")
    score = serializers.FloatField()


class SearchResultSerializer(PassageSerializer):
    original_filename = serializers.CharField()
    file_url = serializers.CharField()
    format = serializers.CharField(help_text="the document's: pdf, docx, html, markdown or text")
    fused_score = serializers.FloatField()
    rerank_score = serializers.FloatField(allow_null=True)
    dense_rank = serializers.IntegerField(allow_null=True)
    bm25_rank = serializers.IntegerField(allow_null=True)
    fused_rank = serializers.IntegerField()
    rerank_rank = serializers.IntegerField(allow_null=True)


class SearchApi(APIView):
    """The passages of the collections the asker may read that best match a query."""

    parser_classes = [JSONParser]
    class InputSerializer(serializers.Serializer):
        query = StrictCharField(max_length=2000)
        top_k = StrictIntegerField(min_value=1, max_value=100, default=5)
        document_ids = DocumentIdsField(required=False, allow_null=True)
        rerank = StrictBooleanField(default=True)

    class OutputSerializer(serializers.Serializer):
        results = SearchResultSerializer(many=True)
        reranked = serializers.BooleanField()
        rerank_error = serializers.CharField()
        reranker_model = serializers.CharField()
        index_version = serializers.IntegerField(allow_null=True)
        timings = serializers.DictField(child=serializers.FloatField(), help_text="milliseconds per stage")

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            found = chunk_search(
                query=data["query"], top_k=data["top_k"], document_ids=data.get("document_ids"), rerank=data["rerank"],
                collection_ids=request_collection_ids(request),
            )
        except SearchError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        return Response(self.OutputSerializer(found).data)
