"""Bodies past their limit are refused before they are read, and before anything is asked of the
database (issue 37): a 500 MB upload used to be spooled to /tmp before its 413, an anonymous
300 MB question read whole before its 401, and a chunked JSON body (no Content-Length) read as
empty ("This field is required"). Through the test client (the middleware, as under WSGI) and
through a real uvicorn (the ASGI wrapper), measuring what the server spools."""

import json
import os
import socket
import threading
import time
from pathlib import Path

import pytest
from django.test import Client

from access.bodies import CHUNKED_UNREAD, TOO_LARGE
from access.services import api_key_create
from tests.processes import free_port, process_env, running, wait_http

MB = 1024 * 1024
JSON_PATHS = ["/query", "/query/stream", "/api/search/", "/api/conversations/"]


@pytest.fixture
def closed(settings):
    settings.RAGSITE_ANONYMOUS_QUERIES = False


def declared(client, path, length: int, body: bytes = b"{}", content_type="application/json", **extra):
    """A POST whose Content-Length says `length` while only `body` follows: reading past it fails
    the test (the test client's payload refuses to be read beyond what it holds)."""
    return client.post(path, body, content_type=content_type, CONTENT_LENGTH=str(length), **extra)


# --- the middleware (WSGI, the test client) --------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("path", JSON_PATHS)
def test_a_json_body_past_the_limit_is_refused_from_its_length_before_anyone_is_looked_up(
    path, closed, django_user_model, django_assert_num_queries
):
    signed_in = Client()
    signed_in.force_login(django_user_model.objects.create_user("reader"))
    _, key = api_key_create(user=django_user_model.objects.create_user("script"), name="script")
    askers = [(Client(), {}), (signed_in, {}), (Client(), {"HTTP_AUTHORIZATION": f"Bearer {key}"})]

    for client, extra in askers:
        with django_assert_num_queries(0):  # no session, no user, no API key looked up
            response = declared(client, path, 300 * MB, **extra)
        assert response.status_code == 413, (path, response.status_code, response.content[:200])
        assert response.json() == {"detail": TOO_LARGE}


@pytest.mark.django_db
def test_an_upload_may_be_as_big_as_the_upload_limit_and_no_bigger(staff_client, settings):
    settings.RAGSITE_MAX_UPLOAD_MB = 2
    limit = 2 * MB + 1024 * 1024  # the file and its multipart framing

    refused = declared(staff_client, "/api/documents/", limit + 1, content_type="multipart/form-data; boundary=x")
    assert refused.status_code == 413 and refused.json() == {"detail": TOO_LARGE}

    admin = declared(staff_client, "/admin/documents/document/add/", limit + 1,
                     content_type="multipart/form-data; boundary=x")
    assert admin.status_code == 413 and admin["Content-Type"].startswith("text/plain")
    assert admin.content.decode() == f"{TOO_LARGE} At most 3 MB may be sent here in one request."

    # Within the limit the body is read (here: a multipart body without its file part).
    body = b"--x\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nT\r\n--x--\r\n"
    within = staff_client.post("/api/documents/", body, content_type="multipart/form-data; boundary=x")
    assert within.status_code == 400 and within.json() == {"file": ["No file was submitted."]}


@pytest.mark.django_db
def test_a_chunked_body_a_wsgi_server_hands_over_without_its_length_is_refused_with_the_reason(client):
    response = client.post("/query", b"", content_type="application/json", HTTP_TRANSFER_ENCODING="chunked")

    assert response.status_code == 411
    assert response.json() == {"detail": CHUNKED_UNREAD}


# --- a real uvicorn (the ASGI wrapper) --------------------------------------------------------------


class Server:
    """A uvicorn serving the application (ragsite/asgi.py), with a temp folder of its own
    where Django spools bodies, watched for the largest it grows to."""

    def __init__(self, tmp_path: Path, **env):
        self.port = free_port()
        self.spool = tmp_path / "spool"
        self.spool.mkdir()
        self.log = tmp_path / "server.log"
        args = [str(Path(os.sys.executable).parent / "uvicorn"), "ragsite.asgi:application",
                "--host", "127.0.0.1", "--port", str(self.port)]
        self.env = process_env(tmp_path, settings={"RAGSITE_PRELOAD": False}, TMPDIR=str(self.spool), **env)
        self.args = args
        self.spool_peak = 0

    def __enter__(self):
        self._running = running(self.args, self.env, self.log)
        self.proc = self._running.__enter__()
        wait_http(f"http://127.0.0.1:{self.port}/static/querying/ask.css", log=self.log)
        self._stop = threading.Event()
        self._watch = threading.Thread(target=self._watch_spool, daemon=True)
        self._watch.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._watch.join()
        self._running.__exit__(*exc)

    def _watch_spool(self):
        """The bytes of the files the server holds open in its temp folder. Python makes them
        with O_TMPFILE, nameless in the folder: they are found through the process's open files."""
        fds = Path(f"/proc/{self.proc.pid}/fd")
        while not self._stop.wait(0.002):
            size = 0
            for fd in fds.iterdir():
                try:
                    if os.readlink(fd).startswith(str(self.spool)):
                        size += fd.stat().st_size
                except OSError:  # closed meanwhile
                    pass
            self.spool_peak = max(self.spool_peak, size)

    def peak_rss(self) -> int:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) * 1024


def exchange(port: int, head: bytes, chunks=(), timeout: float = 30) -> tuple[int, bytes, float, int]:
    """Send a request's head, then its body chunks while the server reads; return (status, the
    response's body, seconds until its status line came, body bytes sent)."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(timeout)
    started = time.monotonic()
    answered: dict = {}

    def read():
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
                if b"\r\n" in data and "at" not in answered:
                    answered["at"] = time.monotonic() - started
        except OSError:
            pass
        answered["data"] = data

    reader = threading.Thread(target=read)
    reader.start()
    sent = 0
    try:
        sock.sendall(head)
        for chunk in chunks:
            if "at" in answered:
                break
            sock.sendall(chunk)
            sent += len(chunk)
    except OSError:  # the server answered and closed while the body was still coming
        pass
    reader.join(timeout)
    sock.close()
    raw = answered.get("data", b"")
    assert raw.startswith(b"HTTP/1.1 "), raw[:200]
    head_part, _, body = raw.partition(b"\r\n\r\n")
    if b"transfer-encoding: chunked" in head_part.lower():
        body = dechunked(body)
    return int(head_part.split()[1]), body, answered["at"], sent


def dechunked(body: bytes) -> bytes:
    out = b""
    while body:
        size, _, body = body.partition(b"\r\n")
        out, body = out + body[: int(size, 16)], body[int(size, 16) + 2 :]
    return out


def request_head(path: str, headers: dict) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close",
             *(f"{name}: {value}" for name, value in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def chunked(total: int, size: int = 256 * 1024):
    """`total` bytes of a JSON-looking body, in chunks of the chunked transfer coding."""
    piece = b"x" * size
    for _ in range(total // size):
        yield b"%x\r\n%s\r\n" % (len(piece), piece)
    yield b"0\r\n\r\n"


@pytest.mark.django_db(transaction=True)
def test_under_uvicorn_a_declared_length_past_the_limit_is_refused_before_a_byte_is_sent(tmp_path):
    with Server(tmp_path, RAGSITE_ANONYMOUS_QUERIES="false") as server:
        upload = request_head("/api/documents/", {"Content-Type": "multipart/form-data; boundary=x",
                                                  "Content-Length": 500 * MB})
        status, body, took, _ = exchange(server.port, upload)
        assert (status, json.loads(body)) == (413, {"detail": TOO_LARGE}) and took < 5

        # An anonymous 300 MB question: 413, not a 401 after reading it.
        question = request_head("/query", {"Content-Type": "application/json", "Content-Length": 300 * MB})
        status, body, took, _ = exchange(server.port, question)
        assert (status, json.loads(body)) == (413, {"detail": TOO_LARGE}) and took < 5
        assert server.spool_peak == 0


@pytest.mark.django_db(transaction=True)
def test_under_uvicorn_a_chunked_body_is_stopped_at_the_limit_and_one_within_it_is_read(tmp_path):
    with Server(tmp_path) as server:
        rss_before = server.peak_rss()
        head = request_head("/query", {"Content-Type": "application/json", "Transfer-Encoding": "chunked"})

        status, body, took, sent = exchange(server.port, head, chunked(200 * MB))

        assert (status, json.loads(body)) == (413, {"detail": TOO_LARGE})
        assert sent < 100 * MB  # the server answered long before the body was all sent
        assert server.spool_peak <= 5 * MB + 256 * 1024  # DATA_UPLOAD_MAX_MEMORY_SIZE and one chunk
        assert server.peak_rss() - rss_before < 32 * MB

        # Within the limit, a chunked body is read as it is: its field is blank, not missing.
        small = json.dumps({"question": ""}).encode()
        status, body, _, _ = exchange(server.port, head, [b"%x\r\n%s\r\n0\r\n\r\n" % (len(small), small)])
        assert (status, json.loads(body)) == (400, {"question": ["This field may not be blank."]})
