"""What changes search, whichever backend serves it: the corpus's services call these."""

from typing import Iterable

from documents.search.backends import search_backend


def index_chunks(*, chunk_ids: Iterable[int], document_id: int | None = None, generation: int = 0) -> None:
    """Make stored chunks searchable as they now are, in the caller's transaction (a document's
    generation swapped in, with document_id and generation; vectors embedded again)."""
    search_backend().index_chunks(chunk_ids=chunk_ids, document_id=document_id, generation=generation)


def index_rebuild_request(*, in_process: bool = False) -> None:
    """Bring search up to date with the chunks committed so far: here and now (in_process), or
    by the worker soon after."""
    search_backend().refresh(in_process=in_process)
