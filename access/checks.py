"""System checks about how the site is set up to be reached."""

from django.contrib.auth import get_user_model
from django.core.checks import Tags, Warning, register
from django.db import DatabaseError

DEMO_USERNAME, DEMO_PASSWORD = "admin", "admin"


def demo_password_warnings() -> list[Warning]:
    """A warning while the account `make run` creates still has its demo password."""
    try:
        user = get_user_model().objects.filter(username=DEMO_USERNAME, is_active=True).first()
    except DatabaseError:  # no database yet (before migrate), or none reachable: nothing to say
        return []
    if user is None or not user.check_password(DEMO_PASSWORD):
        return []
    return [
        Warning(
            f"The account {DEMO_USERNAME!r} still has the demo password {DEMO_PASSWORD!r}: anyone can log in "
            "as staff and change or delete every document.",
            hint=f"Change it: python manage.py changepassword {DEMO_USERNAME} (or in the admin).",
            id="access.W001",
        )
    ]


# The check reads the database, so it runs where Django runs database checks (migrate, and
# `check --database default`) and in `check --deploy`, never twice in one run.
@register(Tags.security, Tags.database)
def check_demo_password(app_configs=None, databases=None, **kwargs):
    return demo_password_warnings() if databases else []


@register(Tags.security, deploy=True)
def check_demo_password_deploy(app_configs=None, databases=None, **kwargs):
    return [] if databases else demo_password_warnings()
