"""Conversations: who owns one, reading and changing them, recording answers, and the standalone
search query of a follow-up.

Ownership (querying.models.Conversation): an API client owns what it made with its key, a user
what they made on the page, an anonymous browser what it made in its session. Every read and
write goes through `conversation_get` / `conversation_list`, which filter by the owner: another
asker's conversation is "not found", exactly as one that does not exist.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass

from asgiref.sync import async_to_sync
from django.db import transaction
from django.db.models import Count, QuerySet

from access.models import ApiKey
from documents.models import Document
from querying.llm.base import LLMProvider, Prompt, VendorProvider
from querying.models import Conversation, Message
from querying.rewrite import MAX_REWRITE_CHARS, Turn, rewrite_clean, rewrite_heuristic, rewrite_prompt
from querying.sources import stored_citations

logger = logging.getLogger(__name__)

SESSION_KEY = "ragsite_conversation_owner"
# How many earlier turns a rewrite reads; the answer's history is bounded by tokens instead.
REWRITE_TURNS = 3
TITLE_CHARS = 200


class ConversationNotFound(Exception):
    """No conversation with that id belongs to the asker (whether or not it exists)."""


@dataclass(frozen=True)
class Owner:
    """Who asks, as conversations are owned: exactly one of the three is set."""

    api_key_id: int | None = None
    user_id: int | None = None
    session_owner: str = ""

    def filter(self) -> dict:
        if self.api_key_id is not None:
            return {"api_key_id": self.api_key_id}
        if self.user_id is not None:
            return {"user_id": self.user_id, "api_key__isnull": True}
        if not self.session_owner:  # an anonymous asker who has made no conversation yet
            return {"pk__in": []}
        return {"session_owner": self.session_owner, "user__isnull": True, "api_key__isnull": True}

    def fields(self) -> dict:
        return {"api_key_id": self.api_key_id, "user_id": self.user_id, "session_owner": self.session_owner}


def conversation_owner(request, *, create: bool = True) -> Owner:
    """The owner for a request that DRF authenticated (a DRF request, or a plain one after
    access.rest.drf_admit). An anonymous asker gets a token in its session, made on first use:
    the session cookie then carries its conversations. A request that only reads (create=False)
    makes none: a browser that lists its conversations as a page loads and asks at once would
    otherwise get two sessions, and keep the one whose cookie came last, not the one that owns
    its first conversation."""
    auth = getattr(request, "auth", None)
    if isinstance(auth, ApiKey):
        return Owner(api_key_id=auth.pk, user_id=auth.user_id)
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return Owner(user_id=user.pk)
    session = request.session
    token = session.get(SESSION_KEY)
    if not token and create:
        token = session[SESSION_KEY] = secrets.token_urlsafe(24)
    return Owner(session_owner=token or "")


# Selectors ------------------------------------------------------------------------------------


def conversation_list(*, owner: Owner) -> QuerySet[Conversation]:
    """The owner's conversations, most recently used first, each with `message_count`."""
    # Explicitly ordered: Django leaves Meta.ordering out of a query with an aggregate.
    return (
        Conversation.objects.filter(**owner.filter())
        .annotate(message_count=Count("messages"))
        .order_by("-updated_at", "-pk")
    )


def conversation_get(*, owner: Owner, conversation_id: int) -> Conversation:
    """The owner's conversation with that id; ConversationNotFound otherwise."""
    conversation = conversation_list(owner=owner).filter(pk=conversation_id).first()
    if conversation is None:
        raise ConversationNotFound(conversation_id)
    return conversation


_STORED_BEFORE = {"section": "", "anchor": "", "ocr": False}


# What is left of a source whose document the asker may no longer read: that there was one.
_WITHHELD = {"chunk_id": 0, "document_id": 0, "title": "", "page": None, "section": "", "anchor": "", "url": "",
             "text": "", "ocr": False, "score": 0.0, "highlights": [], "removed": True}
WITHHELD_ANSWER = "This answer drew on a document you may no longer read."


def _unreadable(messages: list[Message], collection_ids: list[int] | None) -> tuple[set[int], set[int]]:
    """(the documents the messages' sources name that exist, those of them the asker may not
    read: outside collection_ids, none when it is None)."""
    named = {source.get("document_id") for message in messages for source in message.sources}
    rows = Document.objects.filter(pk__in=[d for d in named if isinstance(d, int)]).values_list("pk", "collection_id")
    present = {pk: collection for pk, collection in rows}
    if collection_ids is None:
        return set(present), set()
    readable = set(collection_ids)
    return set(present), {pk for pk, collection in present.items() if collection not in readable}


def messages_withheld(messages: list[Message], *, collection_ids: list[int] | None) -> set[int]:
    """The ids of those messages whose answer drew on a document that exists outside
    collection_ids (what the asker reads now): what must not be shown to them."""
    _, unreadable = _unreadable(messages, collection_ids)
    return {m.pk for m in messages if any(source.get("document_id") in unreadable for source in m.sources)}


def message_list(*, conversation: Conversation, collection_ids: list[int] | None = None) -> list[Message]:
    """The conversation's messages, oldest first, each source marked `"removed": true` when its
    document has been deleted since (the answer stays readable; its link no longer opens). A
    source stored before sources said where a section is says it is none.

    A source whose document still exists but lies outside collection_ids (the collections the
    asker reads now) is withheld: nothing of it but its number and that it is removed; and an
    answer that drew on one is withheld with it (its text may quote the document)."""
    messages = list(conversation.messages.all())
    present, unreadable = _unreadable(messages, collection_ids)
    for message in messages:
        tainted = any(source.get("document_id") in unreadable for source in message.sources)
        if tainted:
            message.answer, message.search_query = WITHHELD_ANSWER, ""
        message.citations = [] if tainted else stored_citations(message.answer, message.sources)
        message.sources = [
            {**_WITHHELD, "n": source.get("n", 0), "cited": False} if source.get("document_id") in unreadable
            else {**_STORED_BEFORE, **source, "removed": source.get("document_id") not in present}
            for source in message.sources
        ]
    return messages


def conversation_turns(*, conversation: Conversation, limit: int, collection_ids: list[int] | None = None) -> list[Turn]:
    """The last `limit` turns, oldest first, as a rewrite and the answer's history read them. A
    turn whose answer drew on a document outside collection_ids (what the asker reads now) keeps
    only its question, the asker's own words: its answer and its search query (a model's rewrite
    may carry the answer's terms) are left out."""
    recent = list(conversation.messages.order_by("-created_at", "-pk")[:limit])[::-1]
    withheld = messages_withheld(recent, collection_ids=collection_ids)
    turns = []
    for m in recent:
        tainted = m.pk in withheld
        turns.append(Turn(
            question=m.question,
            answer="" if tainted else m.answer,
            search_query="" if tainted else m.search_query,
            document_ids=[] if tainted else answer_document_ids(m.sources),
        ))
    return turns


def answer_document_ids(sources: list[dict]) -> list[int]:
    """The documents an answer drew on: those of the sources it cites, or of all its sources."""
    cited = [s["document_id"] for s in sources if s.get("cited")]
    return list(dict.fromkeys(cited or [s["document_id"] for s in sources]))


# Services -------------------------------------------------------------------------------------


def conversation_start(*, owner: Owner, title: str = "") -> Conversation:
    return Conversation.objects.create(title=title[:TITLE_CHARS], **owner.fields())


def conversation_rename(*, conversation: Conversation, title: str) -> Conversation:
    conversation.title = title[:TITLE_CHARS]
    conversation.save(update_fields=["title", "updated_at"])
    return conversation


def conversation_delete(*, conversation: Conversation) -> None:
    conversation.delete()


def message_record(
    *, conversation: Conversation, question: str, answer: str, search_query: str, sources: list[dict],
    not_found: bool, mode: str, timings: dict, usage: dict, error: dict | None = None,
) -> Message:
    """Store an answer as it was shown, and mark the conversation as just used (it comes first
    in the list). A conversation with no title takes the first question as its title."""
    with transaction.atomic():
        message = Message.objects.create(
            conversation=conversation, question=question, answer=answer, search_query=search_query,
            sources=sources, not_found=not_found, mode=mode, timings=timings, usage=usage, error=error,
        )
        fields = {"updated_at": message.created_at}
        if not conversation.title:
            fields["title"] = " ".join(question.split())[:TITLE_CHARS]
        Conversation.objects.filter(pk=conversation.pk).update(**fields)
    return message


# The standalone search query ------------------------------------------------------------------


@dataclass
class SearchQuery:
    text: str  # what is searched
    rewritten_by: str  # "" (the question as asked), "heuristic" or the model's name


def query_rewrite(*, question: str, turns: list[Turn], provider: LLMProvider, use_model: bool = True) -> SearchQuery:
    """The standalone query for a question after `turns` (oldest first). Every question of a
    conversation after its first goes through here. A language model provider is asked to
    rewrite it (`query_rewrite_llm`); the extractive mode, and a model that fails or answers
    nonsense, get the heuristic (querying.rewrite), which leaves a standalone question as asked;
    `use_model` off asks for the heuristic alone (the evaluation compares them). Never raises."""
    if not turns:
        return SearchQuery(question, "")
    if use_model and isinstance(provider, VendorProvider):
        rewritten = query_rewrite_llm(question=question, turns=turns, provider=provider)
        if rewritten:
            return SearchQuery(rewritten, provider.name)
    heuristic = rewrite_heuristic(question, turns)
    return SearchQuery(heuristic, "heuristic" if heuristic != question else "")


def query_rewrite_llm(*, question: str, turns: list[Turn], provider: LLMProvider) -> str:
    """The provider's standalone query, or "" when it fails, is late (over
    the provider's rewrite_seconds) or replies with no usable line. A short call: the
    reply is read only up to its first line (at most MAX_REWRITE_CHARS), then the call is closed."""
    system, messages = rewrite_prompt(question, turns)
    prompt = Prompt(system=system, messages=messages, passages=[])

    async def first_line() -> str:
        pieces: list[str] = []
        stream = provider.stream(prompt, {})
        try:
            async for piece in stream:
                pieces.append(piece)
                text = "".join(pieces).lstrip()
                if "\n" in text or len(text) > MAX_REWRITE_CHARS:
                    break
        finally:
            await stream.aclose()  # closes the upstream call: the model stops writing
        return "".join(pieces)

    async def bounded() -> str:
        return await asyncio.wait_for(first_line(), provider.rewrite_seconds)

    try:
        reply = async_to_sync(bounded)()
    except Exception as exc:  # LLMError, a timeout, anything: the heuristic answers instead
        logger.warning("rewriting a follow-up with %s failed, the heuristic rewrites it: %r", provider.name, exc)
        return ""
    return rewrite_clean(reply)
