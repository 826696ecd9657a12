"""OpenAI, and any OpenAI-compatible server (Ollama, vLLM, llama.cpp) through `base_url`."""

import openai

from querying.llm.chat import ChatCompletionsProvider


class OpenAIProvider(ChatCompletionsProvider):
    vendor = "openai"
    sdk = openai
    async_client_class = openai.AsyncOpenAI

    def __init__(self, model: str = "gpt-4o-mini", **options):
        base_url = options.get("base_url") or ""
        local = bool(base_url) and "api.openai.com" not in base_url
        if local and not options.get("api_key"):
            # Local servers ignore the key, but the SDK will not start without one.
            options["api_key"] = "unused"
        super().__init__(model, **options)
        if local:
            # The page and the API show which mode answered: a local server is not OpenAI.
            self.vendor = "openai-compatible"
            self.name = f"openai-compatible:{model}"
