"""A real web process (uvicorn, as `make run` and the production path start it): it searches in
threads of its own, so stopping it stops everything it started; and it answers without torch."""

import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.processes import free_port, process_env, running, wait_http, web_args

pytestmark = pytest.mark.django_db(transaction=True)


def descendants(pid: int) -> list[int]:
    """Every process below pid (children, their children, ...), from /proc."""
    parents = {}
    for entry in Path("/proc").iterdir():
        try:
            # /proc/PID/stat: "pid (name) state ppid ...": the name may hold spaces, not ")".
            parents[int(entry.name)] = int(entry.joinpath("stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):  # not a process, or one that just ended
            continue
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return sorted(found)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@pytest.mark.parametrize("stop_with", [signal.SIGTERM, signal.SIGINT])
def test_a_stopped_web_process_leaves_no_process_behind(tmp_path, stop_with, django_user_model):
    """Issue: stopping uvicorn orphaned its search processes (~620 MB each) and multiprocessing's
    resource tracker, 4 times out of 4. A question answered first, so everything it would start
    has started."""
    port, log = free_port(), tmp_path / "server.log"
    # A fresh models folder, as on a new machine: the process exports the embedding model for ONNX
    # Runtime before it answers, and must do it without loading torch itself (CI caught 860 MB).
    env = process_env(tmp_path, RAGSITE_ANONYMOUS_QUERIES="true", RAGSITE_MODELS_DIR=tmp_path / "models")
    with running(web_args(port), env, log) as server:
        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/api/schema/", timeout=180, log=log)
        answer = httpx.post(f"{base}/query", json={"question": "How long is the warranty?"}, timeout=60)
        assert answer.status_code == 200 and answer.json()["not_found"], answer.text  # an empty corpus
        # It searches in threads: no child process at all, none to orphan (a child left behind
        # is re-parented to init and no longer found under the server once it has stopped).
        assert descendants(server.pid) == []
        assert rss_mb(server.pid) < 800  # no torch in a web process (docs/benchmarks.md has the figure)
        server.send_signal(stop_with)
        started = time.monotonic()
        server.wait(timeout=30)
        assert time.monotonic() - started < 30
