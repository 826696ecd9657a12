"""Where stored documents live and how they are linked: files under MEDIA_ROOT, under names the
upload does not choose, whose URL is the view that checks who may read them (ragsite/urls.py
routes FILES_URL to documents.views.DocumentFileApi)."""

import uuid

from documents.formats import FORMATS

from django.core.files.storage import FileSystemStorage

FILES_URL = "/files/"

document_storage = FileSystemStorage(base_url=FILES_URL)


def document_upload_to(document, filename: str) -> str:
    """A generated name: nothing to guess, and nothing of the uploader's file name on disk; the
    extension is the format's (a PDF's .pdf, a Word file's .docx...), told by the content."""
    return f"documents/{uuid.uuid4().hex}{FORMATS[document.format].suffix}"
