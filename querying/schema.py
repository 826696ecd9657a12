"""POST /query/stream in the OpenAPI schema: a plain Django view (DRF would fight
text/event-stream), so a postprocessing hook describes it from POST /query's own description."""

import copy

EVENTS = """Server-sent events, each `id: N` (1, 2, 3, ...) and one `data:` line holding a JSON object
whose single key names the event:

- `{"conversation_id": 12}`: the conversation the answer is recorded in (send it with the next
  question to ask a follow-up); first
- `{"meta": {"mode": "extractive", "reranked": false, "search_query": "..."}}`: who answers, and
  what was searched (a follow-up's standalone rewrite, or the question)
- `{"token": "..."}`: the next piece of the answer; zero or more, in order
- `{"sources": [...], "not_found": false, "citations": [0, 2]}`: the passages the answer was given,
  as in POST /query's `sources`, and which of its [n] marks are citations (their places among the
  marks; a footnote mark copied from a document is none)
- `{"error": {"code", "message", "retryable"}}`: only when the provider failed mid-answer
  (`incomplete_answer` when its stream ended without its end marker)
- `{"done": true, "timings": {...}, "usage": {...}}`: last

A `: ping` comment line goes out after RAGSITE_SSE_HEARTBEAT_SECONDS of silence. Bad input, a
missing provider setting or an unreachable index are answered before the stream starts, as
the JSON errors of POST /query; so is a full queue (503, `Retry-After`). A question that must
wait for a retrieval thread gets its stream at once, opened by a `: queued` comment, with
heartbeats while it waits; if retrieval then fails, the stream is an `error` event and `done`."""


def _event(name: str, value: dict, *, optional: dict | None = None, **more: dict) -> dict:
    return {
        "type": "object",
        "properties": {name: value, **more, **(optional or {})},
        "required": [name, *more],
        "additionalProperties": False,
    }


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


# The JSON object in each event's `data:` line (an OpenAPI 3.1 schema: contentSchema below).
QUERY_STREAM_EVENT = {
    "oneOf": [
        _event("conversation_id", {"type": "integer"}),
        _event("meta", {"type": "object", "properties": {"mode": {"type": "string"}, "reranked": {"type": "boolean"},
                                                         "search_query": {"type": "string"}},
                        "required": ["mode", "reranked"]}),
        _event("token", {"type": "string"}),
        _event("sources", {"type": "array", "items": _ref("Source")},
               optional={"not_found": {"type": "boolean"}, "citations": {"type": "array", "items": {"type": "integer"}}}),
        _event("error", _ref("LLMErrorDetail")),
        _event("done", {"const": True}, timings={"type": "object", "additionalProperties": {"type": "number"}},
               usage={"type": "object"}),
    ],
}


def add_query_stream(result, generator, request, public):
    """Describe POST /query/stream with POST /query's request body, security and error
    answers, and a text/event-stream answer whose events are QueryStreamEvent objects."""
    query = result["paths"].get("/query", {}).get("post")
    if query is None:
        return result
    stream = copy.deepcopy(query)
    stream.update(
        operationId="query_stream",
        summary="Answer a question as server-sent events",
        description=EVENTS,
    )
    # Without OpenAPI 3.2's itemSchema, a text/event-stream schema describes one event.
    event = {
        "type": "object",
        "properties": {
            "id": {"type": "string", "pattern": "^[0-9]+$"},
            "data": {"type": "string", "contentMediaType": "application/json", "contentSchema": _ref("QueryStreamEvent")},
        },
        "required": ["id", "data"],
    }
    stream["responses"]["200"] = {
        "description": "the answer as it is written",
        "content": {"text/event-stream": {"schema": event}},
    }
    result["paths"]["/query/stream"] = {"post": stream}
    result.setdefault("components", {}).setdefault("schemas", {})["QueryStreamEvent"] = QUERY_STREAM_EVENT
    return result
