"""The stored PDFs, served only to those who may ask, and only once the document is ready."""

from urllib.parse import quote

from django.conf import settings
from django.http import FileResponse, Http404, HttpResponse
from django.utils.cache import patch_cache_control
from django.utils.http import content_disposition_header
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from access.permissions import MayAsk
from documents.models import Document


class DocumentFileApi(APIView):
    """GET /files/<name>: the PDF a source or the admin links to (file URL + #page=N).

    Staff see any document's file; everyone else who may ask sees those that are ready. The
    bytes go out through the web server in front when RAGSITE_FILES_SENDFILE names its header."""

    permission_classes = [MayAsk]
    renderer_classes = [JSONRenderer]  # for the refusals
    schema = None  # a file, not part of the JSON API

    def get(self, request, name):
        document = Document.objects.filter(file=name).first() if could_be_stored(name) else None
        visible = document is not None and (document.status == Document.Status.READY or request.user.is_staff)
        if not visible:
            raise Http404("No such document.")
        response = pdf_response(document)
        patch_cache_control(response, private=True)
        return response


def could_be_stored(name: str) -> bool:
    """Whether a name from a URL could be a stored file's: none holds a NUL (PostgreSQL refuses
    one in a query, a DataError that was a 500) or is longer than its column."""
    return "\x00" not in name and len(name) <= Document._meta.get_field("file").max_length


def pdf_response(document: Document) -> HttpResponse:
    header = settings.RAGSITE_FILES_SENDFILE
    if header == "X-Accel-Redirect":  # nginx: an internal location that aliases MEDIA_ROOT
        response = HttpResponse(content_type="application/pdf")
        response[header] = settings.RAGSITE_FILES_ACCEL_PREFIX.rstrip("/") + "/" + quote(document.file.name)
    elif header == "X-Sendfile":  # Apache mod_xsendfile, lighttpd: the file's own path
        response = HttpResponse(content_type="application/pdf")
        response[header] = document.file.path
    else:
        response = FileResponse(document.file.open("rb"), content_type="application/pdf")
    response["Content-Disposition"] = content_disposition_header(False, document.original_filename)
    return response
