"""The formats ragsite reads, each through one extractor (documents.formats.base.Extractor):
PDF pages, and the sections of Word, HTML, Markdown and plain-text files.

settings.RAGSITE_EXTRACTORS names each format's extractor in the BACKEND/OPTIONS shape of the
project's other pluggable parts; get_extractor(format) builds it once per process."""

from dataclasses import dataclass

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
