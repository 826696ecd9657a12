"""Who may read what: the one rule every path that returns a passage, a title, a count or a file
goes through (search, answers and their sources, conversations, /files, the search API, the
document API, the page, the admin).

Nothing here is cached. Each call reads the grants from the database (the user's groups, the
collections' visibility and groups, the key's collections), and every request calls it afresh,
so a grant removed, a group left, a key narrowed or a collection made private takes effect on
the next question in every web process and worker, with no cache to expire or to invalidate.
"""

from django.db.models import Exists, OuterRef, Q, QuerySet

from access.models import ApiKey
from documents.models import Collection, Document


def collections_readable(*, user=None, api_key=None) -> QuerySet[Collection]:
    """The collections the asker may read.

    - anonymous (user None or not authenticated): the public collections;
    - a signed-in user, or an API key (acting as its user): public and signed_in collections, and
      the `groups` collections of a group the user is in; a superuser every collection;
    - a key narrowed to some collections (ApiKey.collections) reads only those of its user's
      collections; a key with none reads all its user reads.
    An inactive user reads what an anonymous asker reads."""
    signed_in = user is not None and getattr(user, "is_authenticated", False) and user.is_active
    if signed_in and user.is_superuser:
        readable = Collection.objects.all()
    elif signed_in:
        member = Collection.groups.through.objects.filter(collection_id=OuterRef("pk"), group__user=user)
        readable = Collection.objects.filter(
            Q(visibility__in=[Collection.Visibility.PUBLIC, Collection.Visibility.SIGNED_IN])
            | Q(Exists(member), visibility=Collection.Visibility.GROUPS)
        )
    else:
        readable = Collection.objects.filter(visibility=Collection.Visibility.PUBLIC)
    if api_key is not None:
        narrowed = api_key.collections.through.objects.filter(apikey_id=api_key.pk)
        readable = readable.filter(
            ~Exists(narrowed) | Exists(narrowed.filter(collection_id=OuterRef("pk")))
        )
    return readable


def collection_ids_readable(*, user=None, api_key=None) -> list[int]:
    """The ids of collections_readable, read now."""
    return list(collections_readable(user=user, api_key=api_key).values_list("pk", flat=True))


def documents_readable(*, collection_ids) -> QuerySet[Document]:
    """The documents of these collections (ids from collections_readable)."""
    return Document.objects.filter(collection_id__in=list(collection_ids))


def request_collection_ids(request) -> list[int]:
    """The collections a request's asker may read: its user, and its API key when DRF
    authenticated one (request.auth)."""
    auth = getattr(request, "auth", None)
    return collection_ids_readable(user=getattr(request, "user", None), api_key=auth if isinstance(auth, ApiKey) else None)


class CollectionNotFound(Exception):
    """A collection slug that names no collection the asker may read: answered exactly as one
    that names no collection at all."""

    def __init__(self, slug: str):
        self.slug = slug
        super().__init__(f"No collection named {slug!r}.")


def collections_named(*, slugs: list[str], collection_ids: list[int]) -> list[int]:
    """The ids of the collections named by slugs, each one of collection_ids (those the asker
    may read); CollectionNotFound for the first slug that is not, whether or not it exists."""
    found = dict(Collection.objects.filter(pk__in=collection_ids, slug__in=slugs).values_list("slug", "pk"))
    for slug in slugs:
        if slug not in found:
            raise CollectionNotFound(slug)
    return list(dict.fromkeys(found[slug] for slug in slugs))
