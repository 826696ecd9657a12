"""Hybrid search over the corpus. (Being built: see the retrieval issue.)"""


def index_rebuild_request(*, in_process: bool = False) -> None:
    """Ask for the search index to be rebuilt from the stored chunks."""
