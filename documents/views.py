"""The stored documents, served only to those who may ask, and only once the document is ready:
a PDF or another original as it was uploaded, an HTML page sanitised, and a readable text view of
the section-based formats where a citation opens at its section with the passage marked."""

from urllib.parse import quote

from django.conf import settings
from django.http import FileResponse, Http404, HttpResponse
from django.template.response import TemplateResponse
from django.utils.cache import patch_cache_control
from django.utils.http import content_disposition_header
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from access.permissions import MayAsk
from documents.formats import FORMATS, ExtractionError
from documents.models import Document
from documents.readable import documents_readable, request_collection_ids
from documents.selectors import document_text_view

# What a stored document may do in the reader's browser: show itself, with the styles it carries
# inline and images inside it, and nothing else: no script, no request anywhere, and as a sandboxed
# page it has an origin of its own, so nothing in it acts as the site.
DOCUMENT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'; sandbox"
)


class _StoredDocumentApi(APIView):
    permission_classes = [MayAsk]
    renderer_classes = [JSONRenderer]  # for the refusals
    schema = None  # a file, not part of the JSON API

    def document(self, request, name: str) -> Document:
        """The stored document of that name as the asker may see it: one of the collections they
        may read (documents.readable), ready, or in any status for staff; 404 otherwise, alike
        for a document that does not exist and one they may not read (no telling which exist)."""
        readable = documents_readable(collection_ids=request_collection_ids(request))
        document = readable.filter(file=name).first() if could_be_stored(name) else None
        visible = document is not None and (document.status == Document.Status.READY or request.user.is_staff)
        if not visible:
            raise Http404("No such document.")
        return document


class DocumentFileApi(_StoredDocumentApi):
    """GET /files/<name>: the file a source or the admin links to: a PDF (file URL + #page=N), an
    HTML page sanitised (file URL + #anchor), another format's original as uploaded.

    The bytes of an original go out through the web server in front when RAGSITE_FILES_SENDFILE
    names its header."""

    def get(self, request, name):
        document = self.document(request, name)
        response = html_response(document) if document.format == Document.Format.HTML else file_response(document)
        patch_cache_control(response, private=True)
        return response


class DocumentTextApi(_StoredDocumentApi):
    """GET /files/text/<name>?chunk=<id>: a Word, Markdown, text or HTML document as readable text,
    section by section, each at its anchor; the passage `chunk` names is marked, and takes its
    section's anchor, so the citation's URL (…#anchor) scrolls to it."""

    def get(self, request, name):
        document = self.document(request, name)
        if document.format == Document.Format.PDF:
            raise Http404("A PDF opens as itself.")
        chunk_id = request.query_params.get("chunk", "")
        try:
            view = document_text_view(document=document, chunk_id=int(chunk_id) if chunk_id.isdigit() else None)
        except ExtractionError as exc:
            return HttpResponse(str(exc), status=409, content_type="text/plain; charset=utf-8")
        response = TemplateResponse(request, "documents/text_view.html", {"document": document, "view": view})
        _confined(response)
        patch_cache_control(response, private=True)
        return response


def could_be_stored(name: str) -> bool:
    """Whether a name from a URL could be a stored file's: none holds a NUL (PostgreSQL refuses
    one in a query, a DataError that was a 500) or is longer than its column."""
    return "\x00" not in name and len(name) <= Document._meta.get_field("file").max_length


def _confined(response: HttpResponse) -> None:
    response["Content-Security-Policy"] = DOCUMENT_CSP
    response["X-Content-Type-Options"] = "nosniff"
    response["Referrer-Policy"] = "no-referrer"


def html_response(document: Document) -> HttpResponse:
    """The HTML page, sanitised (documents.formats.html.html_sanitise) and confined."""
    from documents.formats.html import html_sanitise

    with document.file.open("rb") as handle:
        data = handle.read()
    try:
        page = html_sanitise(data, filename=document.original_filename)
    except ExtractionError as exc:
        return HttpResponse(str(exc), status=409, content_type="text/plain; charset=utf-8")
    response = HttpResponse(page, content_type="text/html; charset=utf-8")
    _confined(response)
    return response


def file_response(document: Document) -> HttpResponse:
    """The stored original: a PDF shown in the browser, a Markdown or text file as plain text, a
    Word file downloaded."""
    content_type = FORMATS[document.format].content_type
    header = settings.RAGSITE_FILES_SENDFILE
    if header == "X-Accel-Redirect":  # nginx: an internal location that aliases MEDIA_ROOT
        response = HttpResponse(content_type=content_type)
        response[header] = settings.RAGSITE_FILES_ACCEL_PREFIX.rstrip("/") + "/" + quote(document.file.name)
    elif header == "X-Sendfile":  # Apache mod_xsendfile, lighttpd: the file's own path
        response = HttpResponse(content_type=content_type)
        response[header] = document.file.path
    else:
        response = FileResponse(document.file.open("rb"), content_type=content_type)
    inline = document.format != Document.Format.DOCX
    response["Content-Disposition"] = content_disposition_header(not inline, document.original_filename)
    if document.format != Document.Format.PDF:
        _confined(response)
    return response
