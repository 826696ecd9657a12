"""Local HTTP servers that speak the LLM vendors' streaming wire formats, so tests (and
bench/stream.py) point the real openai, groq and anthropic SDKs at them through their base URL
settings and each SDK's own parser runs.

    with FakeVendor("openai", Script(tokens=["Hel", "lo"])) as vendor:
        OpenAIProvider(model="m", api_key="k", base_url=vendor.base_url("openai"))

The server observes what a real vendor would: the requests (JSON bodies), how many tokens it
sent, and whether the client dropped the connection before the end (`disconnected`)."""

from __future__ import annotations

import json
import socket
import ssl
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Script:
    """What the fake vendor answers. `stamp`: prefix each token with the wall clock in ns and a
    "|" (bench/stream.py measures latency with it)."""

    tokens: list[str] = field(default_factory=lambda: ["Hello", " world", "."])
    delay: float = 0.0  # seconds before each token
    empty_deltas: bool = True  # interleave deltas without text, as real servers do
    error_after: int | None = None  # send a vendor error event after this many tokens
    error_type: str = "server_error"  # OpenAI error type, or Anthropic's (overloaded_error, ...)
    error_message: str = "The server had an error while processing your request."
    stall_after: int | None = None  # go silent after this many tokens...
    stall_seconds: float = 5.0  # ...for this long
    status: int | None = None  # answer this HTTP error status instead of a stream
    end_after: int | None = None  # after this many tokens, close the stream cleanly without the end marker
    drop_after: int | None = None  # after this many tokens, reset the connection (a crash, a cut cable)
    stamp: bool = False
    junk_after: int | None = None  # chat completions: after this many tokens, an event whose data is JSON but no object


def openai_chunk(model: str, delta: dict | None, finish: str | None = None, **extra) -> dict:
    """One chat.completion.chunk as OpenAI streams it; delta None gives the closing usage chunk's
    empty choices."""
    choices = [] if delta is None else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
    return {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1700000000, "model": model,
            "choices": choices, **extra}


def openai_usage(prompt_tokens: int, completion_tokens: int) -> dict:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


class _Dropped(Exception):
    """The script says: reset the connection now."""


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"
    # An error is an HTTP/1.0 body that ends when the connection closes; a stream is sent in
    # HTTP/1.1 chunks, as the vendors send theirs, so a reset mid-answer cuts a chunked body (which
    # every HTTP client reports as a broken read) instead of looking like the body's end.
    protocol_version = "HTTP/1.0"

    def log_message(self, *args):
        pass

    def do_POST(self):
        vendor = self.server.vendor
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        with vendor.lock:
            vendor.requests.append({"path": self.path, "headers": dict(self.headers), "json": body})
        script = vendor.script
        if script.status:
            return self._status_error(script)
        self.protocol_version = "HTTP/1.1"
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        try:
            if vendor.wire == "anthropic":
                self._anthropic(script, body)
            else:
                self._openai(script, body)
            self.wfile.write(b"0\r\n\r\n")  # the last chunk: the body's end
        except _Dropped:
            self._reset_connection()
        except (BrokenPipeError, ConnectionResetError, socket.timeout, OSError):
            vendor.disconnected.set()
        else:
            vendor.completed.set()

    def _reset_connection(self):
        """Close with a TCP reset, as a crashed server or a cut connection does: the client's
        next read fails instead of seeing an ordinary end of the body."""
        time.sleep(0.2)  # let the client read what was sent: a reset discards unread data
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()

    def _cut(self, script, sent: int) -> bool:
        """Whether the stream stops here: True to end it cleanly without the end marker; raises
        _Dropped to reset the connection."""
        if script.drop_after is not None and sent == script.drop_after:
            raise _Dropped()
        return script.end_after is not None and sent == script.end_after

    def _status_error(self, script):
        if self.server.vendor.wire == "anthropic":
            payload = {"type": "error", "error": {"type": script.error_type, "message": script.error_message}}
        else:
            payload = {"error": {"message": script.error_message, "type": script.error_type, "code": None}}
        data = json.dumps(payload).encode()
        self.send_response(script.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send(self, text: str):
        data = text.encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _token_text(self, script, token: str) -> str:
        return f"{time.time_ns()}|{token}" if script.stamp else token

    def _pace(self, script, sent: int) -> None:
        """Wait before the next token; a stalled script stops writing for stall_seconds."""
        if script.stall_after is not None and sent == script.stall_after:
            time.sleep(script.stall_seconds)
        if script.delay:
            time.sleep(script.delay)

    def _count(self):
        vendor = self.server.vendor
        with vendor.lock:
            vendor.tokens_sent += 1

    def _openai(self, script, body):
        model = body.get("model", "fake")

        def chunk(delta, finish=None, **extra):
            self._send(f"data: {json.dumps(openai_chunk(model, delta, finish, **extra))}\n\n")

        chunk({"role": "assistant", "content": ""})
        for sent, token in enumerate(script.tokens):
            if script.error_after is not None and sent == script.error_after:
                error = {"message": script.error_message, "type": script.error_type, "code": None}
                self._send(f"data: {json.dumps({'error': error})}\n\n")
                return
            if script.junk_after is not None and sent == script.junk_after:
                self._send('data: ["not", "a", "chunk"]\n\n')
            if self._cut(script, sent):
                return
            self._pace(script, sent)
            if script.empty_deltas and sent % 2:
                chunk({"content": None})
                chunk({})
            chunk({"content": self._token_text(script, token)})
            self._count()
        usage = openai_usage(42, len(script.tokens))
        if (body.get("stream_options") or {}).get("include_usage"):
            chunk({}, finish="stop")
            chunk(None, usage=usage)
        else:  # Groq's way: usage rides on the last chunk, under x_groq
            chunk({}, finish="stop", x_groq={"id": "req_fake", "usage": usage})
        self._send("data: [DONE]\n\n")

    def _anthropic(self, script, body):
        def event(name, payload):
            self._send(f"event: {name}\ndata: {json.dumps(payload)}\n\n")

        event("message_start", {"type": "message_start", "message": {
            "id": "msg_fake", "type": "message", "role": "assistant", "model": body.get("model", "fake"),
            "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": 42, "output_tokens": 1}}})
        event("content_block_start", {"type": "content_block_start", "index": 0,
                                      "content_block": {"type": "text", "text": ""}})
        event("ping", {"type": "ping"})
        for sent, token in enumerate(script.tokens):
            if script.error_after is not None and sent == script.error_after:
                event("error", {"type": "error", "error": {"type": script.error_type, "message": script.error_message}})
                return
            if self._cut(script, sent):
                return
            self._pace(script, sent)
            if script.empty_deltas and sent % 2:
                event("ping", {"type": "ping"})
                event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                              "delta": {"type": "text_delta", "text": ""}})
            event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                          "delta": {"type": "text_delta", "text": self._token_text(script, token)}})
            self._count()
        event("content_block_stop", {"type": "content_block_stop", "index": 0})
        event("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                "usage": {"output_tokens": len(script.tokens)}})
        event("message_stop", {"type": "message_stop"})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024
    vendor: "FakeVendor"


class FakeVendor:
    """A fake LLM vendor on 127.0.0.1 and a free port. `wire` is "openai" (also Groq and any
    OpenAI-compatible server) or "anthropic"; `tls` serves HTTPS with that context."""

    def __init__(self, wire: str = "openai", script: Script | None = None, port: int = 0, tls: ssl.SSLContext | None = None):
        self.wire = wire
        self.tls = tls  # a server-side context: HTTPS, as the vendors serve
        self.script = script or Script()
        self.lock = threading.Lock()
        self.requests: list[dict] = []
        self.tokens_sent = 0
        self.disconnected = threading.Event()
        self.completed = threading.Event()
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.vendor = self
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-vendor", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{'https' if self.tls else 'http'}://{host}:{port}"

    def base_url(self, sdk: str) -> str:
        """What to give each SDK as base_url: openai wants the /v1 prefix, groq and anthropic add theirs."""
        return f"{self.url}/v1" if sdk == "openai" else self.url

    def start(self) -> "FakeVendor":
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread (bench/stream.py runs the vendor as a process of its own)."""
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
