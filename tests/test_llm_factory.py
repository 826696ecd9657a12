"""get_llm() builds the provider settings.RAGSITE_LLM names; the base class fills in the rest."""

import asyncio

import pytest
from django.core.exceptions import ImproperlyConfigured

from querying.llm import get_llm
from querying.llm.base import LLMError, LLMProvider, Prompt


class EchoProvider(LLMProvider):
    """Implements only stream(prompt, usage), as a provider written against the interface would."""

    name = "echo"

    def __init__(self, prefix=""):
        self.prefix = prefix

    async def stream(self, prompt, usage):
        yield self.prefix
        for word in prompt.question.split(" "):
            yield word


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
    prompt = Prompt(system="s", messages=[{"role": "user", "content": "one two three"}], passages=[])
    assert provider.generate(prompt, {}) == "onetwothree"

    async def run():
        return [piece async for piece in provider.stream(prompt, {})]

    assert asyncio.run(run()) == ["", "one", "two", "three"]


def test_the_providers_error_reaches_the_reader_after_the_pieces_before_it():
    class Failing(LLMProvider):
        async def stream(self, prompt, usage):
            yield "a"
            raise LLMError("quota", retryable=True, code="rate_limited")

    async def run():
        got = []
        with pytest.raises(LLMError) as caught:
            async for piece in Failing().stream(Prompt("s", [], []), {}):
                got.append(piece)
        return got, caught.value

    got, error = asyncio.run(run())
    assert got == ["a"] and error.code == "rate_limited" and error.retryable
