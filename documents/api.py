from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from access.rest import query_params
from documents import selectors, services
from documents.models import GENERAL, ID_MAX, Collection, Document, general_collection_id
from documents.readable import CollectionNotFound, documents_readable, request_collection_ids


class DocumentOutputSerializer(serializers.ModelSerializer):
    file_url = serializers.SerializerMethodField()
    collection = serializers.SlugRelatedField(slug_field="slug", read_only=True, help_text="the collection it belongs to")
    progress_percent = serializers.IntegerField(read_only=True)
    searchable = serializers.BooleanField(read_only=True, help_text="its current passages are in the search index")
    skipped_chunks = serializers.ListField(
        child=serializers.DictField(), help_text="passages dropped at ingest: {page, reason}"
    )
    unindexed_chunks = serializers.ListField(
        child=serializers.DictField(), help_text="passages the search index left out: {page, reason}"
    )

    class Meta:
        model = Document
        fields = [
            "id", "title", "collection", "original_filename", "file_url", "sha256", "size_bytes", "status",
            "progress_percent", "searchable", "page_count", "pages_done", "chunk_count", "empty_pages",
            "failed_pages", "ocr_pages", "progress_note", "skipped_chunks", "unindexed_chunks", "error", "embedding_model", "created_at", "updated_at", "started_at", "finished_at",
        ]

    def get_file_url(self, document) -> str:
        return document.file.url if document.file else ""


NotFoundSerializer = inline_serializer("CollectionNotFoundResponse", {"detail": serializers.CharField()})


class DocumentPagination(LimitOffsetPagination):
    max_limit = 1000  # a limit past the database's integers was a 500


class DocumentPageOutputSerializer(serializers.Serializer):
    """What GET /api/documents/ answers: one page of documents (LimitOffsetPagination's shape)."""

    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = DocumentOutputSerializer(many=True)


class DocumentListApi(APIView):
    parser_classes = [MultiPartParser]  # a file cannot travel in a urlencoded form

    class FilterSerializer(serializers.Serializer):
        status = serializers.ChoiceField(
            [("", "any"), *Document.Status.choices], required=False, allow_blank=True, help_text="only documents in this status"
        )
        limit = serializers.IntegerField(
            min_value=1, max_value=DocumentPagination.max_limit, required=False, help_text="documents per page (default 100)"
        )
        offset = serializers.IntegerField(min_value=0, max_value=ID_MAX, required=False, help_text="documents to skip")

    class InputSerializer(serializers.Serializer):
        file = serializers.FileField()
        title = serializers.CharField(required=False, allow_blank=True, max_length=255)
        collection = serializers.SlugField(
            required=False, default=GENERAL, max_length=64, help_text="the slug of a collection you may read (default general)"
        )

    @extend_schema(operation_id="api_documents_list", responses=DocumentPageOutputSerializer, parameters=[FilterSerializer])
    def get(self, request):
        """The documents of the collections you may read."""
        filters = self.FilterSerializer(data=query_params(request))
        filters.is_valid(raise_exception=True)
        documents = selectors.document_list(
            status=filters.validated_data.get("status"), collection_ids=request_collection_ids(request)
        ).select_related("collection")
        paginator = DocumentPagination()
        page = paginator.paginate_queryset(documents, request, view=self)
        return paginator.get_paginated_response(DocumentOutputSerializer(page, many=True).data)

    @extend_schema(request=InputSerializer, responses={201: DocumentOutputSerializer, 404: NotFoundSerializer})
    def post(self, request):
        """Upload a document into a collection you may read; a collection you may not read is a
        404, as one that does not exist."""
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        upload, slug = serializer.validated_data["file"], serializer.validated_data["collection"]
        if slug == GENERAL:
            general_collection_id()  # the default one is there, even in a database made without it
        readable = request_collection_ids(request)
        collection = Collection.objects.filter(pk__in=readable, slug=slug).first()
        if collection is None:
            return Response({"detail": str(CollectionNotFound(slug))}, status=status.HTTP_404_NOT_FOUND)
        try:
            document = services.document_create(
                file=upload, filename=upload.name, title=serializer.validated_data.get("title", ""), user=request.user,
                collection=collection,
            )
        except services.DuplicateDocument as exc:
            body = {"file": [exc.message_for(readable)]}
            if exc.existing.collection_id in readable:
                body["duplicate_of"] = DocumentOutputSerializer(exc.existing).data
            return Response(body, status=status.HTTP_409_CONFLICT)
        except DjangoValidationError as exc:
            return Response({"file": exc.messages}, status=status.HTTP_400_BAD_REQUEST)
        return Response(DocumentOutputSerializer(document).data, status=status.HTTP_201_CREATED)


def _readable_document(request, document_id: int) -> Document:
    """The document with that id, if it is in a collection the asker may read; 404 otherwise,
    alike whether it does not exist or is not theirs to read."""
    readable = documents_readable(collection_ids=request_collection_ids(request))
    return get_object_or_404(readable, pk=document_id)


class DocumentDetailApi(APIView):
    @extend_schema(responses=DocumentOutputSerializer)
    def get(self, request, document_id):
        return Response(DocumentOutputSerializer(_readable_document(request, document_id)).data)

    @extend_schema(responses={204: None})
    def delete(self, request, document_id):
        services.document_delete(document=_readable_document(request, document_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class DocumentReingestApi(APIView):
    @extend_schema(request=None, responses={202: DocumentOutputSerializer})
    def post(self, request, document_id):
        document = _readable_document(request, document_id)
        services.document_reingest(document=document)
        document.refresh_from_db()
        return Response(DocumentOutputSerializer(document).data, status=status.HTTP_202_ACCEPTED)
