import os

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

# Property tests (tests/test_properties_*.py). CI is reproducible (derandomize) and never fails
# on a slow machine (no deadline); a failure prints the blob that replays it (@reproduce_failure).
hypothesis_settings.register_profile(
    "ci",
    max_examples=100,
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
hypothesis_settings.register_profile("dev", max_examples=50, deadline=None)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    """Every test stores uploads and indexes under its own temporary folder (where the processes
    a test starts find them too: tests/processes.py)."""
    settings.MEDIA_ROOT = tmp_path / "var" / "media"
    settings.RAGSITE_INDEX_ROOT = tmp_path / "var" / "index"


@pytest.fixture(autouse=True)
def _empty_cache():
    """Throttles count in the cache: every test starts with none of another test's requests."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def no_throttles(settings):
    """For tests that send hundreds of requests on purpose (properties, fuzzing)."""
    settings.RAGSITE_THROTTLE_RATES = {}


@pytest.fixture
def staff_client(client, django_user_model):
    user = django_user_model.objects.create_user("staff", "staff@example.com", "pw", is_staff=True, is_superuser=True)
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture
def eager_celery():
    """Tasks run inline where they are sent, as a worker would run them."""
    from ragsite.celery import app

    previous = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, True
    yield app
    app.conf.task_always_eager, app.conf.task_eager_propagates = previous
