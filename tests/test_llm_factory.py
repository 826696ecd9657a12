"""get_llm() builds the provider settings.RAGSITE_LLM names; the base class fills in the rest."""

import asyncio

import pytest
from django.core.exceptions import ImproperlyConfigured

from querying.llm import get_llm
from querying.llm.base import LLMError, LLMProvider, supported_kwargs


class EchoProvider(LLMProvider):
    """Implements only stream(system, messages), as a test provider written against the interface would."""

    name = "echo"

    def __init__(self, prefix=""):
        self.prefix = prefix

    def stream(self, system, messages):
        yield self.prefix
        yield from messages[-1]["content"].split(" ")


def test_default_is_extractive(settings):
    settings.RAGSITE_LLM = {"BACKEND": "querying.llm.extractive.ExtractiveProvider", "OPTIONS": {}}
    assert get_llm().name == "extractive"


def test_overriding_the_setting_takes_effect_and_options_are_passed(settings):
    settings.RAGSITE_LLM = {"BACKEND": "tests.test_llm_factory.EchoProvider", "OPTIONS": {"prefix": ">"}}
    first = get_llm()
    assert first.name == "echo" and first.prefix == ">"
    assert get_llm() is first  # built once per value of the setting
    settings.RAGSITE_LLM = {
        "BACKEND": "querying.llm.openai.OpenAIProvider",
        "OPTIONS": {"model": "local", "base_url": "http://127.0.0.1:9/v1"},
    }
    assert get_llm().name == "openai-compatible:local"


def test_a_bad_setting_raises_an_error_that_names_it(settings):
    settings.RAGSITE_LLM = {"BACKEND": "querying.llm.nowhere.Provider"}
    with pytest.raises(ImproperlyConfigured, match="RAGSITE_LLM"):
        get_llm()
    settings.RAGSITE_LLM = {"BACKEND": "querying.llm.extractive.ExtractiveProvider", "OPTIONS": {"colour": "red"}}
    with pytest.raises(ImproperlyConfigured, match="RAGSITE_LLM"):
        get_llm()


def test_a_vendor_without_an_api_key_says_so(settings, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    settings.RAGSITE_LLM = {"BACKEND": "querying.llm.openai.OpenAIProvider", "OPTIONS": {"model": "gpt-4o-mini"}}
    with pytest.raises(LLMError) as caught:
        get_llm()
    assert caught.value.code == "not_configured" and "LLM_API_KEY" in caught.value.message


def test_a_provider_with_only_stream_also_generates_and_streams_async():
    provider = EchoProvider()
    messages = [{"role": "user", "content": "one two three"}]
    assert provider.generate("s", messages, sources=[], usage={}) == "onetwothree"

    async def run():
        return [piece async for piece in provider.astream("s", messages, sources=[], usage={})]

    assert asyncio.run(run()) == ["", "one", "two", "three"]


def test_async_stream_of_the_base_class_reraises_the_providers_error():
    class Failing(LLMProvider):
        def stream(self, system, messages):
            yield "a"
            raise LLMError("quota", retryable=True, code="rate_limited")

    async def run():
        got = []
        with pytest.raises(LLMError) as caught:
            async for piece in Failing().astream("s", []):
                got.append(piece)
        return got, caught.value

    got, error = asyncio.run(run())
    assert got == ["a"] and error.code == "rate_limited" and error.retryable


def test_optional_keywords_reach_only_methods_that_accept_them():
    def plain(system, messages):
        pass

    def wants_sources(system, messages, *, sources=None):
        pass

    def takes_all(system, messages, **kwargs):
        pass

    offered = {"sources": [1], "usage": {}}
    assert supported_kwargs(plain, offered) == {}
    assert supported_kwargs(wants_sources, offered) == {"sources": [1]}
    assert supported_kwargs(takes_all, offered) == offered
