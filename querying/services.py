"""Answering a question: retrieve passages, build the prompt, let the configured provider write.

answer_prepare() does everything that can fail with an ordinary HTTP error (settings, retrieval)
before any byte of a stream goes out; answer_events() then produces the answer as a sequence of
events, which POST /query/stream sends as they come and POST /query gathers (answer_collect):

    {"conversation_id"} (when the question belongs to a conversation),
    {"meta": {"mode", "reranked", "search_query"}}, {"token": "..."}*, {"sources": [...], "not_found"},
    {"error": {...}} (only on a provider failure), {"done": true, "timings", "usage"}

In a conversation (an `owner` given), the question is searched as a standalone query
(querying.conversations.query_rewrite), the model sees the earlier turns within the provider's
history budget, and the answer is recorded before the last event.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import AsyncIterator


from documents.embedding import serve_torch_threads
from documents.search.selectors import SearchResponse, chunk_search, search_warm_up
from querying import conversations
from querying.executor import run_sync
from querying.llm import get_llm
from querying.llm.base import LLMError, LLMProvider, Usage
from querying.prompts import NOT_FOUND, Passage, Prompt, estimate_tokens, history_messages, is_not_found, prompt_build
from querying.rewrite import Turn
from querying.sources import sources_payload

logger = logging.getLogger(__name__)


@dataclass
class AnswerPlan:
    """A question with its passages and prompt, ready for a provider to answer."""

    question: str
    provider: LLMProvider
    prompt: Prompt
    reranked: bool
    timings: dict  # ms, filled as the answer goes
    started: float = field(default_factory=time.perf_counter)
    search_query: str = ""  # what was searched: the question, or its standalone rewrite
    conversation: object | None = None  # querying.models.Conversation the answer is recorded in

    @property
    def mode(self) -> str:
        return self.provider.name


@dataclass
class Answer:
    """The whole answer, as POST /query returns it: what the events said, gathered."""

    answer: str
    sources: list[dict]
    mode: str
    reranked: bool
    timings: dict
    usage: dict
    not_found: bool = False
    error: dict | None = None  # {"code", "message", "retryable"} when the provider failed
    search_query: str = ""
    conversation_id: int | None = None
    citations: list[int] = field(default_factory=list)  # which [n] marks are citations (querying.sources)


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def answer_prepare(
    *, question: str, top_k: int = 5, document_ids: list[int] | None = None,
    owner=None, conversation_id: int | None = None, turns: list[Turn] | None = None, rewrite: str = "auto",
    collection_ids: list[int] | None = None,
) -> AnswerPlan:
    """Build the provider, retrieve the passages and the prompt. Raises LLMError when the
    configured provider cannot be built (e.g. no API key).

    With an `owner` (querying.conversations.Owner), the question joins that owner's conversation
    `conversation_id` (ConversationNotFound when there is none of theirs), or a new one. `turns`
    gives the earlier turns directly instead (the evaluation: nothing is stored). Earlier turns make
    the search query a standalone rewrite of the question (`rewrite`: "auto", by the model when
    there is one; "heuristic"; "off": the question as asked).

    collection_ids: the collections the asker may read (documents.readable; None: no limit, for
    the evaluation alone). Search is filtered to them, and the earlier turns the rewrite and the
    model read leave out what came from a document the asker may no longer read."""
    started = time.perf_counter()
    provider = get_llm()
    conversation = None
    if owner is not None and conversation_id is not None:
        conversation = conversations.conversation_get(owner=owner, conversation_id=conversation_id)
        turns = conversations.conversation_turns(
            conversation=conversation, limit=max(conversations.REWRITE_TURNS, provider.history_turns),
            collection_ids=collection_ids,
        )
    turns = turns or []
    timings: dict[str, float] = {}
    search_query = _search_query(question, turns, provider, rewrite, timings)
    found = chunk_search(
        query=search_query, top_k=top_k, document_ids=document_ids or None, rerank=True, collection_ids=collection_ids
    )
    if owner is not None and conversation is None:  # only once the search worked: no empty conversations
        conversation = conversations.conversation_start(owner=owner)
    history = history_messages(
        [(turn.question, turn.answer) for turn in turns[-provider.history_turns:]], provider.history_tokens
    )
    prompt = prompt_build(
        question=question, passages=_passages(found), token_budget=provider.context_tokens, history=history,
        search_query=search_query if search_query != question else "", query_vector=found.query_vector,
    )
    timings = {**_search_timings(found), **timings, "retrieval": _ms(time.perf_counter() - started)}
    return AnswerPlan(
        question=question, provider=provider, prompt=prompt, reranked=bool(found.reranked), timings=timings,
        started=started, search_query=search_query, conversation=conversation,
    )


def _search_query(question: str, turns: list[Turn], provider: LLMProvider, rewrite: str, timings: dict) -> str:
    """What is searched: the question, or after earlier turns its standalone rewrite (timed)."""
    if not turns or rewrite == "off":
        return question
    started = time.perf_counter()
    query = conversations.query_rewrite(
        question=question, turns=turns[-conversations.REWRITE_TURNS:], provider=provider, use_model=rewrite == "auto",
    ).text
    timings["rewrite"] = _ms(time.perf_counter() - started)
    return query


def _passages(found: SearchResponse) -> list[Passage]:
    return [
        Passage(
            number=i,
            chunk_id=result.chunk_id,
            document_id=result.document_id,
            title=result.title,
            page=result.page,
            text=result.text,
            score=float(result.score),
            url=result.url,
            ocr=result.ocr,
            section=None if result.format == "pdf" else result.section,
            anchor=result.anchor,
            sentence_vectors=result.sentence_vectors,
        )
        for i, result in enumerate(found.results, start=1)
    ]


def _search_timings(found: SearchResponse) -> dict[str, float]:
    stage = found.timings or {}
    return {
        "embed": round(stage.get("embed", 0.0), 2),
        "search": round(sum(stage.get(name, 0.0) for name in ("dense", "bm25", "fusion")), 2),
        "rerank": round(stage.get("rerank", 0.0), 2),
    }


def answer_warm_up() -> dict[str, float]:
    """Load what the first question would otherwise wait for (the embedding model and one query
    through it, the search index, the reranker, the provider), so the first asker after a start
    waits no longer than the second. Returns seconds per step. Never raises: a server whose
    database or index is not there yet still starts, and loads on the first question instead."""
    spent: dict[str, float] = {}
    for name, step in (("provider", lambda: get_llm().warm_up()), ("search", search_warm_up)):
        started = time.perf_counter()
        try:
            step()
        except Exception as exc:
            logger.warning("warm-up step %s failed (it loads on the first question instead): %s", name, exc)
        spent[name] = round(time.perf_counter() - started, 3)
    serve_torch_threads()  # a reranker on torch, when one loaded
    logger.info("warmed up in %s s", spent)
    return spent


def _finish(plan: AnswerPlan, usage: Usage, text: str, generate_started: float, first_token: float | None) -> tuple[dict, dict]:
    now = time.perf_counter()
    timings = {**plan.timings, "generate": _ms(now - generate_started), "total": _ms(now - plan.started)}
    if first_token is not None:
        timings["first_token"] = _ms(first_token - plan.started)
    if "output_tokens" not in usage:
        prompt_text = plan.prompt.system + "".join(m["content"] for m in plan.prompt.messages)
        usage = {"input_tokens": estimate_tokens(prompt_text), "output_tokens": estimate_tokens(text), "estimated": True}
    return timings, usage


def _error(error: LLMError | None) -> dict | None:
    return None if error is None else {"code": error.code, "message": error.message, "retryable": error.retryable}


def _as_llm_error(exc: Exception, plan: AnswerPlan, *, pieces: int) -> LLMError:
    """The provider's failure as an LLMError, logged for operators (the client sees a 200 with an
    error event, or a 502/503): the provider, the code and how far the answer got. The log
    line carries the request's id (access.middleware)."""
    if not isinstance(exc, LLMError):
        logger.exception("provider %s failed with an unexpected error", plan.mode)
        exc = LLMError(f"{plan.mode} failed: {exc}", code="provider_error")
    logger.log(
        logging.WARNING if exc.retryable else logging.ERROR,
        "provider %s failed after %d pieces: %s (code %s, retryable %s)",
        plan.mode, pieces, exc.message, exc.code, exc.retryable,
    )
    return exc


def _record(plan: AnswerPlan, answer: Answer) -> None:
    """Store the answer in the plan's conversation, if it has one."""
    if plan.conversation is None:
        return
    conversations.message_record(
        conversation=plan.conversation, question=plan.question, answer=answer.answer, search_query=plan.search_query,
        sources=answer.sources, not_found=answer.not_found, mode=answer.mode, timings=answer.timings,
        usage=answer.usage, error=answer.error,
    )


async def _not_found() -> AsyncIterator[str]:
    yield NOT_FOUND


async def answer_events(*, plan: AnswerPlan) -> AsyncIterator[dict]:
    """The answer as events, read from the provider's `stream`. Cancelling or closing this
    generator closes the provider's stream, and with it the upstream connection."""
    conversation_id = plan.conversation.pk if plan.conversation is not None else None
    if conversation_id is not None:
        yield {"conversation_id": conversation_id}
    yield {"meta": {"mode": plan.mode, "reranked": plan.reranked, "search_query": plan.search_query}}
    usage: Usage = {}
    pieces: list[str] = []
    error: LLMError | None = None
    started, first_token = time.perf_counter(), None
    stream = plan.provider.stream(plan.prompt, usage) if plan.prompt.passages else _not_found()
    try:
        async for piece in stream:
            if piece:
                first_token = first_token or time.perf_counter()
                pieces.append(piece)
                yield {"token": piece}
    except Exception as exc:
        error = _as_llm_error(exc, plan, pieces=len(pieces))
    finally:
        await stream.aclose()
    text = "".join(pieces)
    sources, citations = sources_payload(plan.prompt.passages, searched=plan.search_query or plan.question, answer=text)
    # "not_found": the answer says the documents do not hold it, so the passages are only the
    # closest ones found, and a page shows them as such.
    answer = Answer(
        answer=text, sources=sources, not_found=is_not_found(text), mode=plan.mode, reranked=plan.reranked,
        timings={}, usage={}, error=_error(error), search_query=plan.search_query, conversation_id=conversation_id,
        citations=citations,
    )
    yield {"sources": answer.sources, "not_found": answer.not_found, "citations": citations}
    if error is not None:
        yield {"error": answer.error}
    answer.timings, answer.usage = _finish(plan, usage, text, started, first_token)
    # Stored before "done": a client that saw the end finds the answer in its conversation.
    await run_sync(_record, plan, answer)
    yield {"done": True, "timings": answer.timings, "usage": answer.usage}


async def answer_collect(*, plan: AnswerPlan) -> Answer:
    """The whole answer at once (POST /query): the events answer_events sends, gathered."""
    answer = Answer(
        answer="", sources=[], mode=plan.mode, reranked=plan.reranked, timings={}, usage={},
        search_query=plan.search_query, conversation_id=plan.conversation.pk if plan.conversation is not None else None,
    )
    pieces = []
    async for event in answer_events(plan=plan):
        if "token" in event:
            pieces.append(event["token"])
        elif "sources" in event:
            answer.sources, answer.not_found, answer.citations = event["sources"], event["not_found"], event["citations"]
        elif "error" in event:
            answer.error = event["error"]
        elif "done" in event:
            answer.timings, answer.usage = event["timings"], event["usage"]
    answer.answer = "".join(pieces)
    return answer
