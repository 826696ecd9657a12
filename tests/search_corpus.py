"""A tiny corpus written straight into the database, for the search tests: one chunk per page,
embedded with the real embedding model (loaded once per test process)."""

import functools
import tempfile
import uuid
from pathlib import Path

from documents.embedding import get_embedder, packaged_minilm_path
from documents.models import Chunk, Document


def search_options(settings, **options) -> None:
    """Tune the configured search backend through its OPTIONS (documents.search.backends.Tuning,
    and the backend's own: version_check_seconds 0 makes every query follow a new index at once)."""
    current = settings.RAGSITE_SEARCH_BACKEND
    settings.RAGSITE_SEARCH_BACKEND = {**current, "OPTIONS": {**current.get("OPTIONS", {}), **options}}


def add_document(title: str, pages: list[str], *, filename: str = "", model: str | None = None, vectors=None):
    embedder = get_embedder()
    model = model or embedder.name
    filename = filename or f"{title.lower().replace(' ', '-')}.pdf"
    document = Document.objects.create(
        title=title,
        file=f"documents/test/{filename}",
        original_filename=filename,
        sha256=uuid.uuid4().hex * 2,
        status=Document.Status.READY,
        generation=1,
        page_count=len(pages),
        pages_done=len(pages),
        chunk_count=len(pages),
        embedding_model=model,
    )
    if vectors is None:
        vectors = embedder.embed(pages)
    Chunk.objects.bulk_create(
        Chunk(
            document=document,
            generation=1,
            ordinal=number - 1,
            page=number,
            text=text,
            char_start=0,
            char_end=len(text),
            token_count=len(text.split()),
            embedding=vector.astype("<f4").tobytes(),
            embedding_model=model,
        )
        for number, (text, vector) in enumerate(zip(pages, vectors), start=1)
    )
    return document


@functools.cache
def minilm_cross_encoder_dir() -> Path:
    """A CrossEncoder built from the bundled MiniLM weights (its scoring head is untrained: good
    for running the real CrossEncoder code, not for judging relevance), saved once per process."""
    from sentence_transformers import CrossEncoder

    path = Path(tempfile.mkdtemp(prefix="ragsite-reranker-")) / "minilm-cross-encoder"
    CrossEncoder(str(packaged_minilm_path()), num_labels=1, max_length=256).save(str(path))
    return path


MANUALS = {
    "R Data Import": [
        "Use read.table() to load a whitespace separated file into a data frame. The header argument "
        "says whether the first line holds the column names.",
        "write.csv saves a data frame as comma separated values; row names are written unless row.names is FALSE.",
    ],
    "Ghostscript Notes": [
        "To produce a PDF/X file call Ghostscript with -dPDFX and an output intent profile.",
        "The -sDEVICE=pdfwrite option selects the PDF writer; -dNOPAUSE stops it from waiting between pages.",
    ],
    "Garden Guide": [
        "Tomatoes need six hours of direct sunlight a day and deep watering twice a week.",
        "Prune roses in late winter, cutting just above an outward facing bud.",
    ],
}


def add_manuals() -> dict[str, Document]:
    return {title: add_document(title, pages) for title, pages in MANUALS.items()}
