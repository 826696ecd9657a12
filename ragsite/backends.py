"""Turn a STORAGES-shaped setting into an object: import_string(BACKEND)(**OPTIONS)."""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string


def backend_from_settings(setting_name, **overrides):
    """Build the backend named by settings.<setting_name>; a bad setting raises an error naming it."""
    config = getattr(settings, setting_name, None)
    if not isinstance(config, dict) or "BACKEND" not in config:
        raise ImproperlyConfigured(
            f"settings.{setting_name} must be a dict with a 'BACKEND' dotted path and optional 'OPTIONS'"
        )
    try:
        backend_class = import_string(config["BACKEND"])
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"settings.{setting_name}['BACKEND'] = {config['BACKEND']!r} cannot be imported: {exc}"
        ) from exc
    options = {**config.get("OPTIONS", {}), **overrides}
    try:
        return backend_class(**options)
    except TypeError as exc:
        raise ImproperlyConfigured(f"settings.{setting_name}['OPTIONS'] do not fit {config['BACKEND']}: {exc}") from exc
