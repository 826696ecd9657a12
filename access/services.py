"""API keys: made, checked, revoked."""

import hashlib
import secrets
from datetime import timedelta

from django.utils import timezone

from access.models import ApiKey

KEY_PREFIX = "rag_"
# last_used_at is written at most this often per key: not one write per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def key_sha256(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def api_key_create(*, user, name: str) -> tuple[ApiKey, str]:
    """A new key for user: the stored row and the key itself, which is not stored anywhere
    and must be shown to the person now."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey.objects.create(user=user, name=name, prefix=key[: len(KEY_PREFIX) + 6], key_sha256=key_sha256(key))
    return api_key, key


def api_key_check(*, key: str) -> ApiKey | None:
    """The live key whose SHA-256 matches, with its user; None for an unknown or revoked one."""
    api_key = (
        ApiKey.objects.select_related("user").filter(key_sha256=key_sha256(key), revoked_at__isnull=True).first()
    )
    if api_key is not None:
        now = timezone.now()
        if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION:
            ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
    return api_key


def api_key_revoke(*, api_key: ApiKey) -> None:
    ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
