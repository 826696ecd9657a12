"""The ask page: a Django template whose script posts to /query/stream and renders the events."""

import logging

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_safe

from access.permissions import may_ask
from documents.models import Collection, Document
from documents.readable import collections_readable
from documents.search.rerank import get_reranker
from documents.selectors import document_list, document_status_counts
from querying.llm import get_llm

logger = logging.getLogger(__name__)


# How an operator plugs a model in, one line each (the README's first screen says the same).
LLM_SETUP = [
    ("OpenAI", "RAGSITE_LLM=openai RAGSITE_LLM_API_KEY=sk-..."),
    ("Anthropic", "RAGSITE_LLM=anthropic RAGSITE_LLM_API_KEY=sk-ant-..."),
    ("Groq", "RAGSITE_LLM=groq RAGSITE_LLM_API_KEY=gsk_..."),
    ("A local server (Ollama, llama.cpp, vLLM)",
     "RAGSITE_LLM=openai RAGSITE_LLM_BASE_URL=http://127.0.0.1:11434/v1 RAGSITE_LLM_MODEL=llama3.1 RAGSITE_LLM_API_KEY=local"),
]


def answer_mode_configured() -> tuple[str, bool]:
    """The answer mode the page announces before the first reply: the configured provider's name
    ("extractive", "openai:gpt-4o-mini", ...), and whether its answers are quoted rather than
    written by a model. The stream's meta event has the final word."""
    try:
        provider = get_llm()
    except Exception as exc:  # a misconfigured provider is the stream's error to report, not the page's
        logger.warning("the answer provider could not be built: %s", exc)
        backend = (getattr(settings, "RAGSITE_LLM", None) or {}).get("BACKEND") or "extractive"
        return backend.rsplit(".", 1)[-1], False
    return provider.name, provider.quotes


@login_not_required
@require_safe
@ensure_csrf_cookie
def ask_page(request):
    allowed = may_ask(request.user)
    answer_mode, answers_quoted = answer_mode_configured()
    context = {
        "answer_mode": answer_mode,
        "reranker": get_reranker(),
        "answers_quoted": answers_quoted,
        # Settings are for whoever runs the site: staff, or with DEBUG on (make run) whoever
        # opened the page, who started it; an asker of a site in production cannot act on them.
        "llm_setup": LLM_SETUP if answers_quoted and (request.user.is_staff or settings.DEBUG) else [],
        "may_ask": allowed,
        "default_top_k": 5,
        "stream_url": reverse("query-stream"),
        "conversations_url": reverse("conversation-list"),
        # "/?question=..." opens the page with the question filled in (a link someone shared).
        "question": request.GET.get("question", "")[:4000],
    }
    if allowed:  # who may not ask learns nothing of the corpus, not even how big it is
        context.update(corpus_context(collections=list(collections_readable(user=request.user).order_by("name", "slug"))))
    return render(request, "querying/ask.html", context)


def corpus_context(*, collections: list[Collection]) -> dict:
    """Of what the asker may read (collections, documents.readable): the status counts, the ready
    documents the page offers as filters, and the collections it offers to choose from."""
    collection_ids = [collection.pk for collection in collections]
    counts = document_status_counts(collection_ids=collection_ids)
    ready = document_list(status=Document.Status.READY, collection_ids=collection_ids)
    return {
        "counts": counts,
        "count_ready": counts[Document.Status.READY],
        "count_processing": counts[Document.Status.QUEUED] + counts[Document.Status.PROCESSING],
        "count_failed": counts[Document.Status.FAILED],
        "documents": ready.order_by("title").only("id", "title"),
        "collections": collections,
    }
