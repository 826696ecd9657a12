"""Throttles count every request, also those that arrive together in several threads or
processes (issue 37: DRF's read-modify-write history let 121 through a 120/min limit)."""

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from access.throttles import QueryAnonThrottle

LIMIT, REQUESTS = 20, 60


def redis_cache(settings):
    from tests.processes import require_production_services

    url = require_production_services(os.environ.get("RAGSITE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"))
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}}


def admitted_at_once(address: str) -> int:
    """How many of REQUESTS anonymous questions from one address, each checked in a thread of
    its own (its own cache connection) at the same moment, the throttle lets through."""
    factory = APIRequestFactory()
    start = threading.Barrier(REQUESTS)

    def one(_):
        request = Request(factory.post("/query", REMOTE_ADDR=address))
        start.wait()
        return QueryAnonThrottle().allow_request(request, None)

    with ThreadPoolExecutor(REQUESTS) as pool:
        return sum(pool.map(one, range(REQUESTS)))


@pytest.mark.production
@pytest.mark.django_db
def test_requests_at_the_same_moment_pass_a_redis_counted_throttle_exactly_to_its_limit(settings):
    redis_cache(settings)
    settings.RAGSITE_THROTTLE_RATES = {"query_anon": f"{LIMIT}/min"}

    assert [admitted_at_once(f"203.0.113.{n}") for n in range(1, 4)] == [LIMIT] * 3


def test_requests_at_the_same_moment_pass_a_local_memory_throttle_exactly_to_its_limit(settings):
    settings.RAGSITE_THROTTLE_RATES = {"query_anon": f"{LIMIT}/min"}

    assert [admitted_at_once(f"198.51.100.{n}") for n in range(1, 4)] == [LIMIT] * 3
