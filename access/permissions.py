from django.conf import settings
from rest_framework.permissions import BasePermission


class MayAsk(BasePermission):
    """Anyone may ask while RAGSITE_ANONYMOUS_QUERIES is on (the demo); otherwise a user
    logged in, or an API client with its key."""

    def has_permission(self, request, view):
        return bool(settings.RAGSITE_ANONYMOUS_QUERIES or (request.user and request.user.is_authenticated))


def may_ask(user) -> bool:
    """MayAsk for views that are not DRF's (the ask page, the PDF links)."""
    return bool(settings.RAGSITE_ANONYMOUS_QUERIES or user.is_authenticated)
