"""Where stored documents live and how they are linked: files under MEDIA_ROOT, under names the
upload does not choose, whose URL is the view that checks who may read them (ragsite/urls.py
routes FILES_URL to documents.views.DocumentFileApi)."""

import uuid
from urllib.parse import quote

from django.core.files.storage import FileSystemStorage

from documents.formats import FORMATS

FILES_URL = "/files/"

document_storage = FileSystemStorage(base_url=FILES_URL)


def document_upload_to(document, filename: str) -> str:
    """A generated name: nothing to guess, and nothing of the uploader's file name on disk; the
    extension is the format's (a PDF's .pdf, a Word file's .docx...), told by the content."""
    return f"documents/{uuid.uuid4().hex}{FORMATS[document.format].suffix}"


def citation_url(*, file_url: str, file_name: str, format_name: str, page: int, anchor: str, chunk_id: int) -> str:
    """Where a citation opens its passage: a PDF at its page (#page=N), an HTML page (served
    sanitised) at the section's anchor, the other formats' text view at the section, the passage
    marked. "" when the document has no file."""
    if not file_url:
        return ""
    if format_name == "pdf":
        return f"{file_url}#page={page}"
    fragment = f"#{quote(anchor, safe='')}" if anchor else ""
    if format_name == "html":
        return file_url + fragment
    return f"{FILES_URL}text/{quote(file_name)}?chunk={chunk_id}{fragment}"
