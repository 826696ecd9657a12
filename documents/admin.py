import logging

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import display_for_field, display_for_value, lookup_field
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.http import JsonResponse
from django.shortcuts import redirect
from django.template.defaultfilters import linebreaksbr
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from documents import services
from documents.models import GENERAL, ID_MAX, Chunk, Collection, Document, SearchIndexState, general_collection_id
from documents.readable import collections_readable
from documents.search.rerank import get_reranker

logger = logging.getLogger(__name__)


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": ".pdf,.docx,.html,.htm,.md,.markdown,.txt,.rst"}))
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        if isinstance(data, (list, tuple)):
            return [super(MultipleFileField, self).clean(item, initial) for item in data]
        return [super().clean(data, initial)]


# What the list (its columns) and the change page (its read-only fields) show that changes while
# a document is ingested and indexed: the admin's pages ask for these while one moves.
LIVE_FIELDS = (
    "status_badge", "progress", "page_count", "chunk_count", "search", "short_error",
    "status", "pages_done", "empty_pages", "failed_pages", "ocr_pages", "progress_note", "skipped_chunks",
    "unindexed_chunks", "error", "embedding_model", "generation", "indexed_generation", "chunks_link",
    "updated_at", "enqueued_at", "started_at", "finished_at", "heartbeat_at",
)
LIVE_MAX_DOCUMENTS = 500  # a page shows 100 at the most


def document_moving(document: Document, *, index_failed: bool = False) -> bool:
    """Whether what the admin shows of the document changes without anyone acting: it is queued
    or processing, or ready and waiting for the search index (unless the last build failed,
    which waits for staff)."""
    if document.status in (Document.Status.QUEUED, Document.Status.PROCESSING):
        return True
    return document.status == Document.Status.READY and document.generation > 0 and not document.searchable and not index_failed


def live_ids(values: list[str]) -> list[int]:
    """The document ids of a ?id=..&id=.. query: what is no id is left out."""
    ids = [int(value) for value in values if value.isdigit() and len(value) <= 19]
    return [pk for pk in ids if pk <= ID_MAX][:LIVE_MAX_DOCUMENTS]


class DocumentUploadForm(forms.Form):
    files = MultipleFileField(
        label="Documents", help_text="Choose one or several PDF, Word (.docx), HTML, Markdown or text files."
    )
    collection = forms.ModelChoiceField(
        queryset=Collection.objects.none(), required=False, empty_label=None,
        help_text="Who may read them: the collection they go to (general when none is chosen).",
    )
    title = forms.CharField(
        required=False, max_length=255, help_text="Optional; used only when a single file is uploaded."
    )

    def __init__(self, *args, collections=None, **kwargs):
        """collections: those the uploader may choose from (the ones they may read)."""
        super().__init__(*args, **kwargs)
        general_collection_id()  # the default one is there, even in a database made without it
        collections = Collection.objects.none() if collections is None else collections
        self.fields["collection"].queryset = collections
        self.fields["collection"].initial = collections.filter(slug=GENERAL).first()

    def clean_collection(self):
        collection = self.cleaned_data.get("collection") or self.fields["collection"].initial
        if collection is None:
            raise ValidationError("Choose a collection.")
        return collection


def staff_collections(request):
    """The collections a member of staff manages: those they may read (documents.readable),
    every one for a superuser."""
    return collections_readable(user=request.user)


@admin.register(Collection)
class CollectionAdmin(admin.ModelAdmin):
    """Who reads which documents: a collection's visibility, and for `groups` its groups."""

    list_display = ["name", "slug", "visibility", "document_count"]
    list_filter = ["visibility"]
    search_fields = ["name", "slug", "description"]
    prepopulated_fields = {"slug": ["name"]}
    filter_horizontal = ["groups"]
    fields = ["name", "slug", "visibility", "groups", "description"]

    def get_queryset(self, request):
        readable = staff_collections(request).values("pk")
        return super().get_queryset(request).filter(pk__in=readable).annotate(documents_held=Count("documents"))

    def has_delete_permission(self, request, obj=None):
        # Uploads that name no collection go to general: it stays (one holding documents is
        # protected anyway).
        return super().has_delete_permission(request, obj) and (obj is None or obj.slug != GENERAL)

    @admin.display(description="documents", ordering="documents_held")
    def document_count(self, collection):
        return collection.documents_held


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = [
        "title", "collection", "status_badge", "progress", "page_count", "chunk_count", "search", "short_error",
        "created_at",
    ]
    list_select_related = ["collection"]
    list_filter = ["status", ("collection", admin.RelatedOnlyFieldListFilter), "created_at"]
    search_fields = ["title", "original_filename", "sha256"]
    actions = ["reingest_selected", "delete_selected_documents"]
    readonly_fields = [
        "original_filename", "file", "sha256", "size_bytes", "status", "search", "page_count", "pages_done",
        "chunk_count", "empty_pages", "failed_pages", "ocr_pages", "progress_note", "skipped_chunks", "unindexed_chunks", "error",
        "embedding_model", "generation", "indexed_generation", "chunks_link", "created_at",
        "updated_at", "enqueued_at", "started_at", "finished_at", "heartbeat_at", "uploaded_by",
    ]
    fields = ["title", "collection", *readonly_fields]

    def get_queryset(self, request):
        """Staff see and manage the documents of the collections they may read."""
        return super().get_queryset(request).filter(collection__in=staff_collections(request).values("pk"))

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "collection":  # a document moves only to a collection its staff may read
            kwargs["queryset"] = staff_collections(request)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_actions(self, request):
        actions = super().get_actions(request)
        # The stock bulk delete skips document_delete (files and the index would be left behind).
        actions.pop("delete_selected", None)
        return actions

    @admin.display(description="status", ordering="status")
    def status_badge(self, document):
        colours = {"queued": "#777", "processing": "#b58900", "ready": "#2e7d32", "failed": "#c62828"}
        return format_html(
            '<strong style="color:{}" data-moving="{}">{}</strong>', colours.get(document.status, "#000"),
            "true" if document_moving(document) else "false", document.status,
        )

    @admin.display(description="progress")
    def progress(self, document):
        note = f" · {document.progress_note}" if document.progress_note else ""
        if document.page_count:
            unit = "pages" if document.format == Document.Format.PDF else "sections"
            return f"{document.pages_done}/{document.page_count} {unit} ({document.progress_percent}%){note}"
        return document.progress_note or "-"

    @admin.display(description="search")
    def search(self, document):
        """Whether a question can find the document now, and what the index left out of it."""
        if document.searchable:
            left_out = len(document.unindexed_chunks)
            return f"yes ({left_out} passage(s) left out)" if left_out else "yes"
        if document.generation > 0:
            return "waiting for the search index"
        return "-"

    def get_urls(self):
        live = path("live/", self.admin_site.admin_view(self.live_view), name="documents_document_live")
        return [live, *super().get_urls()]

    def live_view(self, request):
        """GET ?id=..&id=..: of each of these documents, what the list and the change page show
        that moves (LIVE_FIELDS, as HTML), and whether it still moves: what
        documents/static/documents/admin_live.js polls while a shown document is in progress."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        index_failed = SearchIndexState.objects.filter(pk=1, failed_at__isnull=False).exists()
        documents = self.get_queryset(request).filter(pk__in=live_ids(request.GET.getlist("id")))
        return JsonResponse({"documents": {
            str(document.pk): {
                "moving": document_moving(document, index_failed=index_failed),
                "cells": {name: self.live_cell(name, document) for name in LIVE_FIELDS},
            }
            for document in documents
        }})

    def live_cell(self, name: str, document: Document) -> str:
        """One field as the admin renders it (django.contrib.admin's list cells and read-only
        fields), escaped."""
        field, attr, value = lookup_field(name, document, self)
        if hasattr(value, "__html__"):
            return str(value)
        empty = self.get_empty_value_display()
        if field is None:
            shown = display_for_value(value, empty, getattr(attr, "boolean", False))
        else:
            shown = display_for_field(value, field, empty)
        return str(linebreaksbr(shown))  # escaped, unless the admin made it HTML itself

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["document_moving"] = obj is not None and document_moving(obj)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def changelist_view(self, request, extra_context=None):
        # Where staff look: a rebuild that failed, or one that nobody picks up, must not hide
        # behind documents that all say "ready".
        state = SearchIndexState.objects.filter(pk=1).first()
        if state is not None and state.failed_at is not None:
            messages.error(
                request,
                f"The search index could not be rebuilt ({state.failed_at:%Y-%m-%d %H:%M} UTC): {state.last_error}. "
                f"Questions are answered from the previous index (v{state.current_version}); documents marked "
                "'waiting for the search index' are not searchable until a rebuild succeeds.",
            )
        elif state is not None and state.rebuild_requested and state.building_since is None and state.requested_at:
            waiting = (timezone.now() - state.requested_at).total_seconds()
            if waiting > 300:
                messages.warning(
                    request,
                    f"A search index rebuild has been waiting for {waiting / 60:.0f} minutes: is a worker running?",
                )
        reranker = get_reranker()
        if not reranker.loaded and not reranker.intended:  # a reranker is configured, and off for everybody
            messages.warning(request, f"Search results are not reranked: {reranker.error}")
        return super().changelist_view(request, extra_context)

    @admin.display(description="error")
    def short_error(self, document):
        return document.error if len(document.error) <= 120 else document.error[:117] + "..."

    @admin.display(description="chunks")
    def chunks_link(self, document):
        url = reverse("admin:documents_chunk_changelist") + f"?document__id__exact={document.pk}"
        return format_html('<a href="{}">{} chunks</a>', url, document.chunk_count)

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            return redirect("admin:documents_document_changelist")
        form = DocumentUploadForm(request.POST or None, request.FILES or None, collections=staff_collections(request))
        if request.method == "POST" and form.is_valid():
            uploads = form.cleaned_data["files"]
            title = form.cleaned_data["title"] if len(uploads) == 1 else ""
            for upload in uploads:
                self.store_upload(request, upload, title=title, collection=form.cleaned_data["collection"])
            return redirect("admin:documents_document_changelist")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "form": form,
            "title": "Upload documents",
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/documents/document/upload.html", context)

    def store_upload(self, request, upload, *, title: str, collection: Collection) -> None:
        """Store one file of a batch in the collection and tell staff what became of it: queued,
        or refused with the reason. Whatever happens to one file, the others are stored and told
        about."""
        try:
            document = services.document_create(
                file=upload, filename=upload.name, title=title, user=request.user, collection=collection
            )
        except services.DuplicateDocument as exc:
            readable = None if request.user.is_superuser else list(staff_collections(request).values_list("pk", flat=True))
            messages.warning(request, f"{upload.name}: {exc.message_for(readable)}")
        except ValidationError as exc:
            messages.error(request, f"{upload.name}: {' '.join(exc.messages)}")
        except Exception as exc:  # a bug, not the file: logged with its traceback
            logger.exception("the upload %s could not be stored", upload.name)
            messages.error(request, f"{upload.name}: not stored, an unexpected error ({exc.__class__.__name__}: {exc})")
        else:
            messages.success(request, f"{upload.name}: queued as document {document.pk}")

    def delete_model(self, request, obj):
        services.document_delete(document=obj)

    def delete_queryset(self, request, queryset):
        for document in queryset:
            services.document_delete(document=document)

    @admin.action(description="Re-ingest selected documents", permissions=["change"])
    def reingest_selected(self, request, queryset):
        for document in queryset:
            services.document_reingest(document=document)
        messages.success(request, f"{queryset.count()} document(s) queued for ingest")

    @admin.action(description="Delete selected documents (with their chunks and files)", permissions=["delete"])
    def delete_selected_documents(self, request, queryset):
        count = queryset.count()
        self.delete_queryset(request, queryset)
        messages.success(request, f"{count} document(s) deleted")


@admin.register(Chunk)
class ChunkAdmin(admin.ModelAdmin):
    list_display = ["document", "ordinal", "page", "ocr", "token_count", "preview"]
    list_filter = [("document", admin.RelatedOnlyFieldListFilter), "ocr"]
    list_select_related = ["document"]
    search_fields = ["text"]
    fields = ["document", "generation", "ordinal", "page", "ocr", "char_start", "char_end", "token_count", "embedding_model", "text"]
    readonly_fields = fields
    list_per_page = 50

    def get_queryset(self, request):
        readable = staff_collections(request).values("pk")
        return super().get_queryset(request).defer("embedding").filter(document__collection__in=readable)

    @admin.display(description="text")
    def preview(self, chunk):
        return chunk.text if len(chunk.text) <= 160 else chunk.text[:157] + "..."

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
