"""What the JSON API lets in: errors as JSON for bodies too big to read, and DRF's request
handling for the plain Django views (the answer stream) that must refuse as the DRF views do."""

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView, exception_handler

from access.bodies import TOO_LARGE


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = TOO_LARGE
    default_code = "request_too_large"


def api_exception_handler(exc, context):
    """DRF's handler, also answering with JSON what Django refuses as it reads a request (it
    would send its HTML 400 page): a body over DATA_UPLOAD_MAX_MEMORY_SIZE (413), more fields
    than DATA_UPLOAD_MAX_NUMBER_FIELDS and the like (400)."""
    if isinstance(exc, RequestDataTooBig):
        exc = RequestTooLarge()
    elif isinstance(exc, SuspiciousOperation):
        exc = exceptions.ParseError(str(exc))
    return exception_handler(exc, context)


def drf_admit(request: HttpRequest, view_class: type[APIView]) -> tuple[object, JsonResponse | None]:
    """Take a plain Django view's request as the DRF view_class would: its authentication,
    permissions, throttles and parsers. Returns (the parsed body, None), the request's user set
    to the one DRF authenticated (and request.auth to its credentials: the API key); or (None,
    the JSON error DRF would have answered with).
    Content negotiation is left out: the caller answers in a format of its own."""
    view = view_class()
    view.setup(request)
    view.headers = view.default_response_headers
    drf_request = view.initialize_request(request)
    drf_request.accepted_renderer, drf_request.accepted_media_type = JSONRenderer(), "application/json"
    view.request = drf_request
    try:
        view.perform_authentication(drf_request)
        view.check_permissions(drf_request)
        view.check_throttles(drf_request)
        data = drf_request.data
    except Exception as exc:
        refusal = view.handle_exception(exc)  # raises again what is no API error
        response = JsonResponse(refusal.data, status=refusal.status_code, safe=False)
        for header in ("WWW-Authenticate", "Retry-After"):
            if header in refusal:
                response[header] = refusal[header]
        return None, response
    request.user, request.auth = drf_request.user, drf_request.auth
    return data, None


def query_params(request) -> dict:
    """The query string as a plain dict for a filter serializer: one value for a parameter given
    once, a list for one repeated (which an integer field then refuses). The QueryDict itself
    would be read as a form, whose blank `?limit=` DRF skips instead of refusing."""
    return {name: values[0] if len(values) == 1 else values for name, values in request.query_params.lists()}
