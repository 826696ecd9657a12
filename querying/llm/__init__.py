"""Answer providers. settings.RAGSITE_LLM (STORAGES shape) picks one; get_llm() builds it.

    from querying.llm import get_llm
    async for piece in get_llm().stream(prompt, usage):
        ...

What a provider receives and must do: querying.llm.base.
"""

import json
import threading

from django.conf import settings

from querying.llm.base import LLMError, LLMProvider
from ragsite.backends import backend_from_settings

__all__ = ["LLMError", "LLMProvider", "get_llm"]

_lock = threading.Lock()
_built: dict[str, LLMProvider] = {}


def get_llm() -> LLMProvider:
    """The provider settings.RAGSITE_LLM names, built once per distinct value of the setting
    (SDK clients keep connection pools worth reusing; a changed setting builds a new one)."""
    key = json.dumps(getattr(settings, "RAGSITE_LLM", None), sort_keys=True, default=repr)
    provider = _built.get(key)
    if provider is None:
        with _lock:
            provider = _built.get(key)
            if provider is None:
                provider = backend_from_settings("RAGSITE_LLM")
                if len(_built) > 8:
                    _built.clear()
                _built[key] = provider
    return provider
