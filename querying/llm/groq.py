"""Groq, through its own SDK (the chat-completions shape)."""

import groq

from querying.llm.chat import ChatCompletionsProvider


class GroqProvider(ChatCompletionsProvider):
    vendor = "groq"
    sdk = groq
    async_client_class = groq.AsyncGroq

    def __init__(self, model: str = "llama-3.1-8b-instant", **options):
        # The groq SDK takes no stream_options; Groq reports usage in the last chunk's x_groq.
        options.setdefault("stream_usage", False)
        super().__init__(model, **options)
