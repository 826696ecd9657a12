"""Answer providers. settings.RAGSITE_LLM (STORAGES shape) picks one; get_llm() builds it.

    from querying.llm import get_llm
    async for piece in get_llm().stream(prompt, usage):
        ...

What a provider receives and must do: querying.llm.base.
"""

from querying.llm.base import LLMError, LLMProvider
from documents.backends import backend

__all__ = ["LLMError", "LLMProvider", "get_llm"]


def get_llm() -> LLMProvider:
    """The provider settings.RAGSITE_LLM names, built once (SDK clients keep connection pools
    worth reusing) and again when the setting changes."""
    return backend("RAGSITE_LLM")
