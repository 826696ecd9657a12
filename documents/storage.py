"""Where stored PDFs live and how they are linked: files under MEDIA_ROOT, under names the
upload does not choose, whose URL is the view that checks who may read them."""

import uuid

from django.core.files.storage import FileSystemStorage
from django.urls import reverse


class DocumentStorage(FileSystemStorage):
    def url(self, name):
        return reverse("document-file", kwargs={"name": name})


document_storage = DocumentStorage()


def document_upload_to(document, filename: str) -> str:
    """A generated name: nothing to guess, and nothing of the uploader's file name on disk."""
    return f"documents/{uuid.uuid4().hex}.pdf"
