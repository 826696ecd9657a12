"""API key authentication for DRF (REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"])."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from access import services


class ApiKeyAuthentication(BaseAuthentication):
    """`Authorization: Bearer <key>` with a key made in the admin (Access › API keys)."""

    def authenticate(self, request):
        words = get_authorization_header(request).split()
        if not words or words[0].lower() != b"bearer":
            return None  # another scheme, or none: for the other authenticators
        if len(words) != 2:
            raise exceptions.AuthenticationFailed("Send the API key as `Authorization: Bearer <key>`.")
        try:
            key = words[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Unknown or revoked API key.") from None
        api_key = services.api_key_check(key=key)
        if api_key is None or not api_key.user.is_active:
            raise exceptions.AuthenticationFailed("Unknown or revoked API key.")
        return api_key.user, api_key

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = ApiKeyAuthentication
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "an API key made in the admin (Access › API keys)"}
