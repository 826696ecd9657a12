import math

from django.contrib import admin
from django.http import HttpResponse

from access.throttles import login_wait


def admin_login(request, **kwargs):
    """The admin's login page, throttled per client address and per account name: after a few
    wrong passwords in a row the next attempt, right or wrong, waits (429 with Retry-After)."""
    if request.method == "POST":
        wait = login_wait(request, request.POST.get("username", ""))
        if wait is not None:
            seconds = math.ceil(wait)
            response = HttpResponse(
                f"Too many login attempts from this address or for this account. Try again in {seconds} seconds.",
                status=429,
                content_type="text/plain; charset=utf-8",
            )
            response["Retry-After"] = str(seconds)
            return response
    return admin.site.login(request, **kwargs)
