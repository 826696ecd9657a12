"""What runs inside a search process (documents.search.processes): its start and its calls.

A search process is spawned fresh and imports this module before Django is set up, so what needs
Django (the models, the search) is imported inside the functions, once start() has set it up."""

from __future__ import annotations

import logging
import os
import signal

from django.conf import settings

logger = logging.getLogger(__name__)


def start(snapshot: dict) -> None:
    """The process's first step: the parent's settings (snapshot, a test's overrides included),
    Django, then the models and the index. Never raises: a process that cannot load them yet
    (no database, no index) loads them on its first question and answers with the error."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the server, and the server its children
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ragsite.settings")
    for name, value in snapshot.items():
        setattr(settings, name, value)
    import django

    django.setup()
    from documents.embedding import serve_torch_threads
    from documents.search.selectors import search_warm_up

    serve_torch_threads()
    try:
        search_warm_up()
    except Exception as exc:
        logger.warning("search process %d could not warm up (it loads on its first question): %s", os.getpid(), exc)


def call(function, kwargs: dict):
    """function(**kwargs), its database connections closed after, as at the end of a request."""
    from django.db import connections

    try:
        return function(**kwargs)
    finally:
        connections.close_all()


def pid() -> int:
    return os.getpid()
