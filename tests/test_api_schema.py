"""The API is what its OpenAPI description says. Schemathesis reads the schema the app serves
and sends every operation what the schema allows and what it forbids, as a staff user and
anonymously, over a real index: no answer is a 5xx, and every answer's status, media type and
body are the documented ones. Swagger UI loads from the site's own static files."""

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, settings

from access.services import api_key_create

# The extractive mode and the ingested, indexed kettle manual of the endpoint tests.
from tests.test_query_endpoints import _answer_settings, kettle  # noqa: F401

# Transactional: /query/stream retrieves in a pool thread, whose connection sees only committed rows.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _unthrottled(no_throttles):
    """Hundreds of requests on purpose: a 429 would answer in place of the endpoint."""


@pytest.fixture
def staff_headers(django_user_model):
    user = django_user_model.objects.create_user("schema-staff", is_staff=True)
    return {"Authorization": f"Bearer {api_key_create(user=user, name='schemathesis')[1]}"}


# The schema as the app serves it (read through WSGI as the collection starts: it needs no database).
schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())


fuzzed = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
# A schema cannot say "a PDF" or "not only spaces": valid-looking input may still be refused.
SEMANTIC = [schemathesis.checks.positive_data_acceptance]


@schema.parametrize()
@fuzzed
def test_every_operation_answers_staff_as_documented(case, kettle, eager_celery, staff_headers):  # noqa: F811
    # The staff credentials are given, so a generated (invalid) cookie beside them is no test of auth.
    case.call_and_validate(headers=staff_headers, excluded_checks=[*SEMANTIC, schemathesis.checks.ignored_auth])


@schema.parametrize()
@fuzzed
def test_every_operation_answers_anonymous_clients_as_documented(case, kettle, eager_celery):  # noqa: F811
    case.call_and_validate(excluded_checks=SEMANTIC)


def test_swagger_ui_loads_from_the_sites_own_static_files(client):
    html = client.get("/api/docs/").content.decode()
    assert "cdn." not in html and "https://" not in html
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    for path in ("swagger-ui-bundle.js", "swagger-ui.css", "swagger-ui-standalone-preset.js"):
        response = client.get(f"/static/drf_spectacular_sidecar/swagger-ui-dist/{path}")
        assert response.status_code == 200, path
        assert len(b"".join(response.streaming_content) if response.streaming else response.content) > 10_000
