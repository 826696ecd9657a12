"""How much latency and memory the answer stream adds, under ASGI (uvicorn) and WSGI.

    .venv/bin/python bench/stream.py                      # 200 clients on ASGI, 20 on WSGI
    .venv/bin/python bench/stream.py --asgi-clients 50 --wsgi-clients 0 --tokens 100

A fake OpenAI-compatible provider (tests/fake_vendors.py, in a process of its own) writes each
token at 50 tokens/s per stream, stamped with the wall clock; the real `openai` SDK in the server
reads it, the server relays it as SSE, and clients (asyncio + httpx, in this process) note when
each token arrives. Printed per run: the added latency from the provider writing a token to the
client reading it (p50/p95/p99), time to first token, errors, and the server's memory (RSS after
warm-up, and its peak). The corpus is one generated PDF, ingested and indexed in a temporary folder
(reranker off, so retrieval is the embedding of the question and the index lookups).

uvicorn uses uvloop and httptools when they are installed (uvicorn[standard]); without them the
ASGI figures are several times worse at 200 streams (measured: p50 80 ms, p95 240 ms).
BENCH_PROFILE=/path.prof writes a cProfile of the ASGI server's event-loop thread.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.processes import wait_http  # noqa: E402  (after the path)
CSRF = "b" * 32
QUESTION = "What is the warranty period of the kettle?"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- child processes ------------------------------------------------------------------------------


def serve_fake_vendor(port: int, tokens: int, rate: float) -> None:
    from tests.fake_vendors import FakeVendor, Script

    script = Script(tokens=[f"w{i} " for i in range(tokens)], delay=1 / rate, empty_deltas=False, stamp=True)
    FakeVendor("openai", script, port=port).serve_forever()


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 1024


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def serve_asgi_profiled(port: int, out: str) -> None:
    import cProfile

    import uvicorn

    from ragsite.asgi import application

    server = uvicorn.Server(uvicorn.Config(application, host="127.0.0.1", port=port, log_level="warning",
                                          access_log=False, backlog=2048))
    # uvicorn re-raises SIGTERM after its shutdown, which would kill us before the dump.
    server.capture_signals = contextlib.nullcontext
    signal.signal(signal.SIGTERM, lambda *_: setattr(server, "should_exit", True))
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        server.run()
    finally:
        profiler.disable()
        profiler.dump_stats(out)


def serve_wsgi(port: int) -> None:
    from ragsite.wsgi import application

    make_server("127.0.0.1", port, application, server_class=_ThreadingWSGIServer,
                handler_class=_QuietHandler).serve_forever()


# --- set-up ---------------------------------------------------------------------------------------


def prepare_corpus(env: dict) -> None:
    """Migrate a fresh SQLite database and ingest one PDF, in a child process with `env`."""
    code = """
import django
django.setup()
from django.core.management import call_command
from django.core.files.base import ContentFile
call_command("migrate", verbosity=0)
from documents.ingest import document_ingest
from documents.services import document_create
from documents.search.services import index_rebuild_request
from tests.pdfs import text_pdf
pages = ["Kettle K-200 user manual. Fill the kettle with fresh water up to the MAX mark.",
         "Warranty. The warranty period for the K-200 kettle is two years from the date of purchase."]
document = document_create(file=ContentFile(text_pdf(pages), name="kettle.pdf"), enqueue=False)
print(document_ingest(document_id=document.pk, rebuild_index=False))
index_rebuild_request(in_process=True)
"""
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)


def memory_kb(pid: int) -> dict:
    """VmRSS (now) and VmHWM (peak) of a process, in kB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "Threads"):
            out[key] = int(value.split()[0])
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- clients --------------------------------------------------------------------------------------


async def one_client(client, url: str, stats: dict) -> None:
    started = time.time_ns()
    try:
        async with client.stream(
            "POST", url, json={"question": QUESTION, "top_k": 3},
            headers={"X-CSRFToken": CSRF, "Cookie": f"csrftoken={CSRF}"},
        ) as response:
            if response.status_code != 200:
                stats["errors"].append(f"HTTP {response.status_code}")
                return
            first = True
            async for line in response.aiter_lines():
                if not line.startswith("data: "):
                    continue
                now = time.time_ns()
                payload = json.loads(line[6:])
                if "token" in payload:
                    written = int(payload["token"].split("|", 1)[0])
                    stats["latency_ms"].append((now - written) / 1e6)
                    stats["arrivals"].append((now, (now - written) / 1e6))
                    if first:
                        stats["ttft_ms"].append((now - started) / 1e6)
                        stats["first_at"].append(now)
                        first = False
                elif "error" in payload:
                    stats["errors"].append(payload["error"]["code"])
                elif "done" in payload:
                    stats["done"] += 1
    except Exception as exc:  # counted, not raised: one failing client must not hide the others
        stats["errors"].append(f"{type(exc).__name__}: {exc}"[:200])


async def sample_threads(pid: int, stats: dict) -> None:
    from collections import Counter

    while True:
        count = memory_kb(pid)["Threads"]
        if count > stats["threads"]:
            stats["threads"] = count
            names = Counter()
            for comm in Path(f"/proc/{pid}/task").glob("*/comm"):
                try:
                    names[comm.read_text().strip().rstrip("0123456789_")] += 1
                except OSError:
                    pass
            stats["thread_names"] = dict(names.most_common(4))
        await asyncio.sleep(0.25)


async def run_clients(url: str, clients: int, pid: int) -> dict:
    import httpx

    stats = {"latency_ms": [], "ttft_ms": [], "errors": [], "done": 0, "threads": 0, "thread_names": {},
             "arrivals": [], "first_at": []}
    sampler = asyncio.create_task(sample_threads(pid, stats))
    limits = httpx.Limits(max_connections=clients + 10, max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=httpx.Timeout(120, connect=30), limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(one_client(client, url, stats) for _ in range(clients)))
        stats["wall_s"] = time.perf_counter() - started
    sampler.cancel()
    return stats


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def bench(kind: str, clients: int, env: dict, vendor_url: str, vendor_pid: int, log: Path) -> dict:
    port = free_port()
    server_env = {**env, "RAGSITE_LLM": "openai", "RAGSITE_LLM_MODEL": "fake-model", "RAGSITE_LLM_API_KEY": "unused",
                  "RAGSITE_LLM_BASE_URL": vendor_url}
    if kind == "asgi":
        args = [sys.executable, "-m", "uvicorn", "ragsite.asgi:application", "--host", "127.0.0.1",
                "--port", str(port), "--log-level", "warning", "--no-access-log", "--backlog", "2048"]
        if os.environ.get("BENCH_PROFILE"):  # a cProfile of the server, written when it stops
            args = [sys.executable, __file__, "serve-asgi-profiled", str(port), os.environ["BENCH_PROFILE"]]
    else:
        args = [sys.executable, __file__, "serve-wsgi", str(port)]
    with log.open("ab") as out:
        server = subprocess.Popen(args, cwd=ROOT, env=server_env, stdout=out, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/api/schema/")
        url = f"{base}/query/stream"
        # One request first: it loads the embedding model and the index (concurrent first requests
        # can find no index while another thread is loading it: see documents/search/serving.py).
        warm = asyncio.run(run_clients(url, 1, server.pid))
        if not warm["errors"]:
            warm = asyncio.run(run_clients(url, 2, server.pid))
        if warm["errors"] or warm["done"] != 2:
            raise SystemExit(f"warm-up failed: {warm['errors']}; see {log}")
        before = memory_kb(server.pid)
        cpu_before, vendor_cpu_before, own_cpu_before = cpu_seconds(server.pid), cpu_seconds(vendor_pid), time.process_time()
        stats = asyncio.run(run_clients(url, clients, server.pid))
        after = memory_kb(server.pid)
        cpu = {"server": cpu_seconds(server.pid) - cpu_before, "provider": cpu_seconds(vendor_pid) - vendor_cpu_before,
               "clients": time.process_time() - own_cpu_before}
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(15)
    lat, ttft = stats["latency_ms"], stats["ttft_ms"]
    # Once every stream has its first token, retrieval (CPU-bound, holding the GIL in turns) is over.
    all_started = max(stats["first_at"], default=0)
    steady = [latency for at, latency in stats["arrivals"] if at > all_started]
    print(
        f"{kind.upper():4} {clients:4d} clients: {stats['done']}/{clients} streams done in {stats['wall_s']:.1f} s, "
        f"{len(lat)} tokens, errors {len(stats['errors'])}{' ' + str(sorted(set(stats['errors']))) if stats['errors'] else ''}\n"
        f"     added latency provider->client ms: p50 {percentile(lat, 50):.1f}  p95 {percentile(lat, 95):.1f}  "
        f"p99 {percentile(lat, 99):.1f}  max {max(lat, default=float('nan')):.1f}\n"
        f"     ... once all streams had started ({len(steady)} tokens): p50 {percentile(steady, 50):.1f}  "
        f"p95 {percentile(steady, 95):.1f}  p99 {percentile(steady, 99):.1f}\n"
        f"     time to first token ms: p50 {percentile(ttft, 50):.0f}  p95 {percentile(ttft, 95):.0f}\n"
        f"     server RSS after warm-up {before['VmRSS'] / 1024:.0f} MiB, at the end {after['VmRSS'] / 1024:.0f} MiB, "
        f"peak {after['VmHWM'] / 1024:.0f} MiB; threads: {before['Threads']} after warm-up, {stats['threads']} at most {stats['thread_names']}\n"
        f"     CPU seconds used: server {cpu['server']:.1f}, fake provider {cpu['provider']:.1f}, clients {cpu['clients']:.1f}",
        flush=True,
    )
    return {
        "server": kind, "clients": clients, "done": stats["done"], "wall_s": stats["wall_s"], "tokens": len(lat),
        "errors": len(stats["errors"]),
        "added_latency_ms": {f"p{q}": percentile(lat, q) for q in (50, 95, 99)},
        "added_latency_after_start_ms": {f"p{q}": percentile(steady, q) for q in (50, 95, 99)},
        "first_token_ms": {"p50": percentile(ttft, 50), "p95": percentile(ttft, 95)},
        "rss_mib": {"after_warm_up": before["VmRSS"] / 1024, "end": after["VmRSS"] / 1024, "peak": after["VmHWM"] / 1024},
        "cpu_s": cpu,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--asgi-clients", type=int, default=200)
    parser.add_argument("--wsgi-clients", type=int, default=20)
    parser.add_argument("--tokens", type=int, default=150, help="tokens per answer")
    parser.add_argument("--rate", type=float, default=50.0, help="tokens per second per stream")
    parser.add_argument("--output", type=Path, metavar="DIR",
                        help="also write the figures to DIR as bench-stream-<date>.json and .md (docs/results/)")
    options = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="ragsite-bench-"))
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    env.update(
        DJANGO_SETTINGS_MODULE="ragsite.settings", RAGSITE_DATA_DIR=str(work / "var"),
        DATABASE_URL=f"sqlite:///{work / 'db.sqlite3'}", DEBUG="false", SECRET_KEY="bench",
        RAGSITE_ANONYMOUS_QUERIES="true", RAGSITE_THROTTLE_QUERY_ANON="off", RAGSITE_RERANKER_MODEL="off",
        PYTHONUNBUFFERED="1",
    )
    (work / "var").mkdir()
    prepare_corpus(env)
    log = work / "servers.log"
    vendor_port = free_port()
    with log.open("ab") as out:
        vendor = subprocess.Popen(
            [sys.executable, __file__, "fake-vendor", str(vendor_port), str(options.tokens), str(options.rate)],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        time.sleep(1)
        vendor_url = f"http://127.0.0.1:{vendor_port}/v1"
        print(f"fake provider: {options.tokens} tokens at {options.rate:g} tokens/s per stream; cores: {os.cpu_count()}")
        runs = []
        if options.asgi_clients:
            runs.append(bench("asgi", options.asgi_clients, env, vendor_url, vendor.pid, log))
        if options.wsgi_clients:
            runs.append(bench("wsgi", options.wsgi_clients, env, vendor_url, vendor.pid, log))
            runs.append(bench("asgi", options.wsgi_clients, env, vendor_url, vendor.pid, log))
    finally:
        os.killpg(vendor.pid, signal.SIGTERM)
        vendor.wait(10)
    print(f"(servers' log: {log})")
    if options.output:
        from querying.management.results import Table, results_write

        results_write(options.output, "bench-stream", {"tokens": options.tokens, "rate": options.rate, "runs": runs}, [
            Table("Latency the server adds to each streamed token (ms)",
                  ["server", "clients", "done", "errors", "p50", "p95", "p99", "first token p50", "peak RSS MiB"],
                  [[r["server"], r["clients"], r["done"], r["errors"], *r["added_latency_ms"].values(),
                    r["first_token_ms"]["p50"], r["rss_mib"]["peak"]] for r in runs]),
        ])


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "fake-vendor":
        serve_fake_vendor(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
    elif len(sys.argv) > 1 and sys.argv[1] == "serve-asgi-profiled":
        serve_asgi_profiled(int(sys.argv[2]), sys.argv[3])
    elif len(sys.argv) > 1 and sys.argv[1] == "serve-wsgi":
        serve_wsgi(int(sys.argv[2]))
    else:
        main()
