from django.apps import AppConfig


class QueryingConfig(AppConfig):
    name = "querying"
    default_auto_field = "django.db.models.BigAutoField"
