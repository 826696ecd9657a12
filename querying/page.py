"""The ask page: a Django template whose script posts to /query/stream and renders the events."""

import logging

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_safe

from access.permissions import may_ask
from documents.models import Document
from documents.search.rerank import get_reranker
from documents.selectors import document_list, document_status_counts
from querying.llm import get_llm

logger = logging.getLogger(__name__)


def answer_mode_configured() -> str:
    """The answer mode the page announces before the first reply: the configured provider's name
    ("extractive", "openai:gpt-4o-mini", ...). The stream's meta event has the final word."""
    try:
        return get_llm().name
    except Exception as exc:  # a misconfigured provider is the stream's error to report, not the page's
        logger.warning("the answer provider could not be built: %s", exc)
        backend = (getattr(settings, "RAGSITE_LLM", None) or {}).get("BACKEND") or "extractive"
        return backend.rsplit(".", 1)[-1]


@login_not_required
@require_safe
@ensure_csrf_cookie
def ask_page(request):
    allowed = may_ask(request.user)
    context = {
        "answer_mode": answer_mode_configured(),
        "reranker": get_reranker(),
        "may_ask": allowed,
        "default_top_k": 5,
        "stream_url": reverse("query-stream"),
        "conversations_url": reverse("conversation-list"),
        # "/?question=..." opens the page with the question filled in (a link someone shared).
        "question": request.GET.get("question", "")[:4000],
    }
    if allowed:  # who may not ask learns nothing of the corpus, not even how big it is
        context.update(corpus_context())
    return render(request, "querying/ask.html", context)


def corpus_context() -> dict:
    """The status counts and the ready documents the page offers as filters."""
    counts = document_status_counts()
    return {
        "counts": counts,
        "count_ready": counts[Document.Status.READY],
        "count_processing": counts[Document.Status.QUEUED] + counts[Document.Status.PROCESSING],
        "count_failed": counts[Document.Status.FAILED],
        "documents": document_list(status=Document.Status.READY).order_by("title").only("id", "title"),
    }
