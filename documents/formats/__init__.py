"""The formats ragsite reads, each through one extractor (documents.formats.base.Extractor):
PDF pages, and the sections of Word, HTML, Markdown and plain-text files.

settings.RAGSITE_EXTRACTORS names each format's extractor in the BACKEND/OPTIONS shape of the
project's other pluggable parts; get_extractor(format) builds it once per process."""

from dataclasses import dataclass
from urllib.parse import quote

from django.conf import settings

from documents.backends import backend, backend_from_config
from documents.formats.base import ExtractionError, Extractor, Location, Opened  # noqa: F401 (the interface)
from documents.formats.detect import format_detect  # noqa: F401


@dataclass(frozen=True)
class Format:
    name: str  # what Document.format stores
    suffix: str  # the stored file's extension
    content_type: str  # of the stored original


FORMATS = {
    "pdf": Format("pdf", ".pdf", "application/pdf"),
    "docx": Format("docx", ".docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    "html": Format("html", ".html", "text/html"),
    "markdown": Format("markdown", ".md", "text/markdown; charset=utf-8"),
    "text": Format("text", ".txt", "text/plain; charset=utf-8"),
}


def get_extractor(format_name: str) -> Extractor:
    """The extractor settings.RAGSITE_EXTRACTORS names for a format, built once per process."""
    extractors = backend("RAGSITE_EXTRACTORS", _build_all)
    try:
        return extractors[format_name]
    except KeyError:
        raise ExtractionError(f"no extractor for the format {format_name!r} (settings.RAGSITE_EXTRACTORS)") from None


def _build_all() -> dict[str, Extractor]:
    return {
        name: backend_from_config(config, name=f"RAGSITE_EXTRACTORS[{name!r}]")
        for name, config in settings.RAGSITE_EXTRACTORS.items()
    }


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
    from documents.storage import FILES_URL

    return f"{FILES_URL}text/{quote(file_name)}?chunk={chunk_id}{fragment}"
