"""Turn a STORAGES-shaped setting into an object, import_string(BACKEND)(**OPTIONS), and keep
one per process: backend("RAGSITE_LLM"), backend("RAGSITE_EMBEDDER"), ..."""

import threading
from typing import Callable

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string


def backend_from_settings(setting_name, **overrides):
    """Build the backend named by settings.<setting_name>; a bad setting raises an error naming it."""
    return backend_from_config(getattr(settings, setting_name, None), name=f"settings.{setting_name}", **overrides)


def backend_from_config(config, *, name: str, **overrides):
    """Build the backend a {"BACKEND", "OPTIONS"} dict names; a bad one raises an error naming it."""
    if not isinstance(config, dict) or "BACKEND" not in config:
        raise ImproperlyConfigured(f"{name} must be a dict with a 'BACKEND' dotted path and optional 'OPTIONS'")
    try:
        backend_class = import_string(config["BACKEND"])
    except ImportError as exc:
        raise ImproperlyConfigured(f"{name}['BACKEND'] = {config['BACKEND']!r} cannot be imported: {exc}") from exc
    options = {**config.get("OPTIONS", {}), **overrides}
    try:
        return backend_class(**options)
    except TypeError as exc:
        raise ImproperlyConfigured(f"{name}['OPTIONS'] do not fit {config['BACKEND']}: {exc}") from exc


_built: dict[str, object] = {}
_build_lock = threading.RLock()


def backend(setting_name: str, build: Callable[[], object] | None = None):
    """The backend settings.<setting_name> names, built once per process by `build` (by default
    backend_from_settings(setting_name)) and kept until the setting changes (an override in a
    test). What `build` returns is what is kept: a builder may return a failed state instead of
    raising, so that a backend that cannot load is not tried again on every call."""
    try:
        return _built[setting_name]
    except KeyError:
        pass
    with _build_lock:  # threads asking at once share one build
        if setting_name not in _built:
            _built[setting_name] = build() if build is not None else backend_from_settings(setting_name)
        return _built[setting_name]


@receiver(setting_changed)
def _forget_backend(*, setting, **kwargs):
    with _build_lock:
        _built.pop(setting, None)
