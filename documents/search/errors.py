class SearchError(Exception):
    """Search cannot answer; the message says why and what to do."""


class IndexModelMismatch(SearchError):
    """The query would be embedded by another model than the one the index was built with."""
