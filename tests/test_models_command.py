"""manage.py models fetch | check, against a local HTTP server that speaks the model hub's plain
interface and serves a real model folder (the packaged all-MiniLM-L6-v2, standing in for a
cross-encoder: CrossEncoder loads it with an untrained head, enough to run the code path)."""

import hashlib
import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from documents.embedding import packaged_minilm_path
from documents.search.rerank import get_reranker
from tests.processes import free_port

REPO = "test-org/tiny-reranker"


class Hub(BaseHTTPRequestHandler):
    folder = packaged_minilm_path()
    requests: list[str] = []

    def do_GET(self):  # noqa: N802 - http.server's name
        Hub.requests.append(self.path)
        files = sorted(p.relative_to(self.folder).as_posix() for p in self.folder.rglob("*") if p.is_file())
        if self.path == f"/api/models/{REPO}/revision/main":
            self._send(json.dumps({"sha": "c0ffee", "siblings": [{"rfilename": f} for f in files]}).encode())
        elif self.path.startswith(f"/{REPO}/resolve/c0ffee/") and self.path.split("/c0ffee/", 1)[1] in files:
            self._send((self.folder / self.path.split("/c0ffee/", 1)[1]).read_bytes())
        else:
            self.send_response(404)
            self.end_headers()

    def _send(self, body: bytes):
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def hub():
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Hub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture
def reranker_named(settings, tmp_path):
    settings.RAGSITE_MODELS_DIR = tmp_path / "models"
    settings.RAGSITE_RERANKER = {"BACKEND": "documents.search.rerank.CrossEncoderReranker", "OPTIONS": {"model": REPO}}


def test_a_reranker_not_on_this_machine_says_how_to_fetch_it_and_fetch_makes_it_load(hub, reranker_named, settings):
    """Issue: the reranker was off for everybody, silently. Offline it cannot load; it says why and
    what to run, and once fetched it loads from RAGSITE_MODELS_DIR."""
    state = get_reranker()
    assert not state.loaded and "manage.py models fetch" in state.error

    out = io.StringIO()
    call_command("models", "fetch", endpoint=hub, stdout=out)
    printed = out.getvalue()
    weights = (packaged_minilm_path() / "model.safetensors").read_bytes()
    assert f"{hashlib.sha256(weights).hexdigest()}" in printed and "model.safetensors" in printed
    assert (settings.RAGSITE_MODELS_DIR / REPO / "model.safetensors").read_bytes() == weights

    settings.RAGSITE_RERANKER = {**settings.RAGSITE_RERANKER}  # as a restarted process: built again
    state = get_reranker()
    assert state.loaded and state.error == ""
    assert len(state.reranker.score("warranty", ["The warranty lasts two years.", "Descale monthly."])) == 2
    out = io.StringIO()
    call_command("models", "fetch", endpoint=hub, stdout=out)  # a second time: nothing to do
    assert "Every configured model is on this machine" in out.getvalue()


def test_fetch_fails_at_once_naming_what_it_tried_when_the_hub_cannot_be_reached(reranker_named):
    closed = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(CommandError, match=rf"cannot fetch '{REPO}' from {closed}/api/models/{REPO}/revision/main"):
        call_command("models", "fetch", endpoint=closed, stdout=io.StringIO())
    assert time.monotonic() - started < 5


def test_fetch_of_a_name_the_hub_does_not_have_says_so(hub, reranker_named, settings):
    settings.RAGSITE_RERANKER = {"BACKEND": "documents.search.rerank.CrossEncoderReranker",
                                 "OPTIONS": {"model": "nobody/nothing"}}
    with pytest.raises(CommandError, match="answered 404: no model 'nobody/nothing' there"):
        call_command("models", "fetch", endpoint=hub, stdout=io.StringIO())


def test_check_says_what_is_configured_whether_it_loads_and_what_it_costs(settings):
    settings.RAGSITE_RERANKER = {"BACKEND": "documents.search.rerank.CrossEncoderReranker", "OPTIONS": {"model": REPO}}
    out = io.StringIO()
    call_command("models", "check", stdout=out)
    lines = out.getvalue().splitlines()
    embedding = next(line for line in lines if line.startswith("embedding:"))
    assert "loads (ONNX Runtime, no torch)" in embedding and " MB" in embedding
    assert any(line.startswith(f"reranker: {REPO} does not load") and "models fetch" in line for line in lines)
    assert any(line.startswith("answers:") for line in lines)


def test_the_page_and_the_admin_say_when_a_configured_reranker_is_off(staff_client, reranker_named, db):
    """Issue: the reranker was off for everybody, silently. The ask page's footer says results are
    in search order (and, to staff, why); the admin's document list warns staff."""
    page = Client().get("/").content.decode()  # an anonymous asker
    assert "Search results are in search order: no reranker could be loaded." in page
    assert "models fetch" not in page  # the operator's hint is for staff
    assert "models fetch" in staff_client.get("/").content.decode()
    listing = staff_client.get("/admin/documents/document/").content.decode()
    assert "Search results are not reranked" in listing and "models fetch" in listing
