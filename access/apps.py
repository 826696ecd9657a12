from django.apps import AppConfig


class AccessConfig(AppConfig):
    """Who may use the site: API keys, the anonymous switch, throttles, and the deployment checks."""

    name = "access"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from access import checks  # noqa: F401  (registers the system checks)
