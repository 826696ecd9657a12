"""How the API describes itself (REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"]): drf-spectacular's
AutoSchema, with component names that cannot collide and the error answers each endpoint gives."""

from django.conf import settings
from drf_spectacular import openapi
from drf_spectacular.plumbing import build_basic_type
from drf_spectacular.types import OpenApiTypes
from rest_framework.permissions import AllowAny

from access.permissions import MayAsk

ERRORS = {
    "400": "invalid input: {\"detail\": ...} or a list of messages per field",
    "401": "no credentials, or an API key that is unknown or revoked",
    "403": "these credentials may not do this",
    "404": "no such object",
    "413": "the request body is larger than the server accepts",
    "415": "a body in a media type the endpoint does not take",
    "429": "too many requests: wait the seconds the Retry-After header gives",
}


class AutoSchema(openapi.AutoSchema):
    def get_serializer_name(self, serializer, direction):
        """A serializer nested in its API class is named after both (QueryApi.OutputSerializer is
        QueryOutput): every view has its own InputSerializer and OutputSerializer."""
        owner, _, name = type(serializer).__qualname__.rpartition(".")
        return owner.removesuffix("Api") + name if owner else name

    def get_auth(self):
        """Asking without credentials is allowed while RAGSITE_ANONYMOUS_QUERIES is on: the
        schema says so (an empty requirement) as it does for AllowAny."""
        auths = super().get_auth()
        if settings.RAGSITE_ANONYMOUS_QUERIES and {} not in auths and any(
            isinstance(permission, MayAsk) for permission in self.view.get_permissions()
        ):
            auths.append({})
        return auths

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code in self._error_codes():
            if code not in responses:
                error = build_basic_type(OpenApiTypes.OBJECT)
                responses[code] = {"content": {"application/json": {"schema": error}}, "description": ERRORS[code]}
        return responses

    def _error_codes(self) -> list[str]:
        codes = []
        takes_body = self.method in ("POST", "PUT", "PATCH")
        if takes_body or self._get_parameters():
            codes.append("400")
        if not all(isinstance(permission, AllowAny) for permission in self.view.get_permissions()):
            codes += ["401", "403"]
        if "{" in self.path:
            codes.append("404")
        if takes_body:
            codes += ["413", "415"]
        if self.view.get_throttles():
            codes.append("429")
        return codes
