from django.conf import settings
from django.db import models


class ApiKey(models.Model):
    """A key an API client sends as `Authorization: Bearer <key>`, acting as its user. Only the
    key's SHA-256 is stored: the key itself is shown once, when it is made (access.services)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, help_text="who or what uses it, e.g. “nightly import script”")
    prefix = models.CharField(max_length=12, editable=False, help_text="the key's first characters, to tell keys apart")
    key_sha256 = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False, help_text="set: the key no longer works")
    # A string reference, not an import: access imports no other app. Read only through
    # documents.readable.collections_readable.
    collections = models.ManyToManyField(
        "documents.Collection", blank=True, related_name="api_keys",
        help_text="the key reads only these of the collections its user reads; none: all its user reads",
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"
