"""Load: N concurrent askers for T seconds against a real uvicorn server, while a real worker
ingests new documents and rebuilds the index; then a check that nothing was lost.

    .venv/bin/python bench/load.py                        # 200 askers, fake provider; then 50, default mode; 20 s each
    .venv/bin/python bench/load.py --modes default --askers 50 --seconds 30
    .venv/bin/python bench/load.py --modes fake --tokens 40 --rate 50 --ramp 0   # short answers, all at once
    RAGSITE_WORKER_CPU_PRIORITY=normal .venv/bin/python bench/load.py               # the worker at the web's priority

Loopback only; every stage is bounded in time, and the run stops by itself. Each asker posts to
/query/stream, reads the stream to its end and asks again, until T is up; a 503 (the queue is
full) is counted and the asker waits its Retry-After. Askers start spread over the first `--ramp`
seconds (people do not all press Enter in the same millisecond). Per mode it prints answers/s, client errors
(a status other than 200 and 503, an `error` event, a stream without `done`, a transport error),
refusals (503), and p50/p95 of the first byte (the response's headers), the first token and the
whole answer. With the fake provider (an OpenAI-compatible server on one event loop, in a process of its own, the real
`openai` SDK in the server reading it, by default 300 tokens at 30 tokens/s per stream (a
10 s answer, so that the askers' streams are open at once), each stamped with the wall clock) it
also prints the latency the server adds to each token between provider and client, and the most
streams that were open at once.

Meanwhile `--uploads` PDFs (10 pages each) are uploaded through the API, and a `celery worker`
(the embedded default's broker, a folder) ingests them and rebuilds the index. Afterwards:
every document must have ended ready, or failed with a reason; a ready one's chunks must be
exactly its current generation's, numbered 0..n-1 without a gap or a repeat; and the index in
service must hold every ready document's current chunks.

SQLite under a temporary folder; DEBUG off, as in production (with it on, Django logs every query of
every request in memory).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.stream import cpu_seconds  # noqa: E402  (after the path)
from tests.processes import wait_http  # noqa: E402
from tests.fake_vendors import openai_chunk, openai_usage  # noqa: E402

QUESTIONS = [
    "What is the warranty period of the kettle?",
    "How much water does the kettle hold?",
    "What happens when the kettle boils dry?",
    "How do I descale the kettle?",
    "Which pump must be primed before the first start?",
    "What does the red light mean?",
]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def manual(topic: str, pages: int, seed: int) -> list[str]:
    """Pages of plausible manual text (each page a few hundred words)."""
    import random

    rng = random.Random(seed)
    parts = ["valve", "pump", "filter", "switch", "lid", "base", "cable", "light", "tank", "sensor"]
    verbs = ["checked", "cleaned", "replaced", "primed", "tightened", "descaled", "tested"]
    out = []
    for page in range(1, pages + 1):
        sentences = [
            f"{topic} section {page}.{n}: the {rng.choice(parts)} must be {rng.choice(verbs)} every "
            f"{rng.randint(2, 52)} weeks, and the {rng.choice(parts)} is {rng.choice(verbs)} before use."
            for n in range(1, 25)
        ]
        out.append(" ".join(sentences))
    return out


KETTLE = [
    "Kettle K-200 user manual. Fill the kettle with fresh water up to the MAX mark; it holds 1.7 litres. "
    "Press the switch once to start boiling; the red light stays on while it heats.",
    "Warranty. The warranty period for the K-200 kettle is two years from the date of purchase. "
    "Keep your receipt. Repairs under warranty are free of charge.",
    "Safety. When the kettle boils dry, a thermal cut-out switches it off; let it cool before refilling. "
    "Descale the kettle every month with a mix of water and vinegar, then rinse it twice.",
]


def setup_django(work: Path) -> dict:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    env.update(
        DJANGO_SETTINGS_MODULE="ragsite.settings", RAGSITE_DATA_DIR=str(work / "var"),
        DATABASE_URL=f"sqlite:///{work / 'db.sqlite3'}", DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        RAGSITE_ANONYMOUS_QUERIES="true", RAGSITE_THROTTLE_QUERY_ANON="off", RAGSITE_THROTTLE_QUERY_USER="off",
        CELERY_BROKER_URL="filesystem://", HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1", RAGSITE_LOG_LEVEL="WARNING",
    )
    os.environ.update(env)
    import django

    django.setup()
    return env


def prepare_corpus() -> str:
    """Migrate, ingest the starting documents, build the index; return a staff API key."""
    from django.contrib.auth import get_user_model
    from django.core.files.base import ContentFile
    from django.core.management import call_command

    from access.services import api_key_create
    from documents.search.services import index_rebuild_request
    from documents.ingest import document_ingest
    from documents.services import document_create
    from tests.pdfs import text_pdf

    call_command("migrate", verbosity=0)
    books = [("kettle.pdf", KETTLE)] + [(f"manual-{n}.pdf", manual(f"Pump P-{n}", 8, n)) for n in range(3)]
    for name, pages in books:
        document = document_create(file=ContentFile(text_pdf(pages), name=name), enqueue=False)
        document_ingest(document_id=document.pk, rebuild_index=False)
    index_rebuild_request(in_process=True)
    user = get_user_model().objects.create_user("bench", is_staff=True)
    return api_key_create(user=user, name="load bench")[1]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


# --- askers and uploads ---------------------------------------------------------------------------


async def _response_head(reader) -> tuple[int, dict]:
    status = int((await reader.readline()).split()[1])
    headers = {}
    while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers


async def _body(reader, headers: dict):
    """The response body as it arrives, chunk by chunk (chunked transfer coding, or up to EOF)."""
    if headers.get("transfer-encoding", "").lower() != "chunked":
        while data := await reader.read(65536):
            yield data
        return
    while True:
        size = int((await reader.readline()).split(b";")[0], 16)
        if size == 0:
            return
        data = await reader.readexactly(size + 2)  # the chunk and its CRLF
        yield data[:-2]


async def ask(url: str, question: str, stats: dict) -> None:
    """One question on its own connection, read by a bare HTTP/1.1 client: a full client's layers
    cost the askers' event loop enough per token, on the machine the server shares, that their
    delay was counted as the server's (the askers' own lag is printed)."""
    started = time.perf_counter()
    streaming = False
    host, port = url.split("//")[1].split("/")[0].split(":")
    path = "/" + url.split("//")[1].split("/", 1)[1]
    body = json.dumps({"question": question, "top_k": 5}).encode()
    writer = None
    try:
        async with asyncio.timeout(120):
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
                         f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
            status, headers = await _response_head(reader)
            stats["first_byte"].append(time.perf_counter() - started)
            if status == 503 and "retry-after" in headers:
                stats["refused"] += 1
                writer.close()
                await asyncio.sleep(float(headers["retry-after"]))
                return
            if status != 200:
                stats["errors"].append(f"HTTP {status}")
                return
            first, done, streaming = True, False, True
            stats["open"] += 1
            stats["most_open"] = max(stats["most_open"], stats["open"])
            pending = b""
            async for data in _body(reader, headers):
                *lines, pending = (pending + data).split(b"\n")
                for line in lines:
                    if not line.startswith(b"data: "):
                        continue
                    now_ns = time.time_ns()
                    payload = json.loads(line[6:])
                    if "token" in payload:
                        if first:
                            stats["first_token"].append(time.perf_counter() - started)
                            first = False
                        stamp, sep, _ = payload["token"].partition("|")
                        if sep and stamp.isdigit():
                            stats["added_ms"].append((now_ns - int(stamp)) / 1e6)
                    elif "error" in payload:
                        stats["errors"].append(payload["error"]["code"])
                    elif "done" in payload:
                        done = True
            if done:
                stats["answers"] += 1
                stats["total"].append(time.perf_counter() - started)
            else:
                stats["errors"].append("stream ended without done")
    except Exception as exc:  # counted, not raised: one failing asker must not hide the others
        stats["errors"].append(f"{type(exc).__name__}: {exc}"[:120])
    finally:
        stats["open"] -= streaming
        if writer is not None:
            writer.close()


async def asker(url: str, number: int, until: float, stats: dict, delay: float) -> None:
    await asyncio.sleep(delay)
    n = number
    while time.monotonic() < until:
        await ask(url, QUESTIONS[n % len(QUESTIONS)], stats)
        n += 1


def upload_pdfs(count: int, batch: int) -> list[tuple[str, bytes]]:
    """The PDFs to upload, written before the askers start: writing one takes the askers' own event
    loop long enough to delay the tokens it is reading, which would count as the server's latency."""
    from tests.pdfs import text_pdf

    return [(f"load-{batch}-{n}.pdf", text_pdf(manual(f"Valve V-{batch}{n}", 10, 1000 * batch + n))) for n in range(count)]


async def uploader(client, base: str, key: str, pdfs: list[tuple[str, bytes]], seconds: float, stats: dict) -> None:
    for name, pdf in pdfs:
        await asyncio.sleep(seconds / (len(pdfs) + 1))
        try:
            response = await client.post(f"{base}/api/documents/", headers={"Authorization": f"Bearer {key}"},
                                         files={"file": (name, pdf, "application/pdf")})
            stats["uploads"].append(response.status_code)
        except Exception as exc:
            stats["uploads"].append(f"{type(exc).__name__}")


async def loop_lag(lags: list, every: float = 0.005) -> None:
    """How late this process's event loop wakes from a short sleep, in ms, until cancelled: a token
    read late because the askers themselves were busy is counted as added latency, so this says
    how much of that figure is the askers' own."""
    while True:
        asked = time.perf_counter()
        await asyncio.sleep(every)
        lags.append((time.perf_counter() - asked - every) * 1000)


async def load(base: str, askers: int, seconds: float, key: str, uploads: int, batch: int, ramp: float = 0) -> dict:
    import random

    import httpx

    # This process set the corpus up (Django, torch, the embedding model): a full garbage
    # collection among those objects stalled the askers for a third of a second, and the tokens
    # that waited meanwhile were counted as the server's latency. They stay, uncollected.
    pdfs = upload_pdfs(uploads, batch)
    gc.collect()
    gc.freeze()
    stats = {"first_byte": [], "first_token": [], "total": [], "added_ms": [], "errors": [], "refused": 0,
             "answers": 0, "uploads": [], "open": 0, "most_open": 0, "askers_lag_ms": []}
    # The uploads' client. Askers open a connection per question (ask): one that waited out a
    # Retry-After would otherwise race the server closing the idle connection (uvicorn: after 5 s).
    async with httpx.AsyncClient(timeout=httpx.Timeout(60, connect=30)) as client:
        started = time.monotonic()
        until = started + seconds
        starts = random.Random(batch)
        tasks = [asyncio.create_task(asker(f"{base}/query/stream", n, until, stats, starts.uniform(0, ramp)))
                 for n in range(askers)]
        tasks.append(asyncio.create_task(uploader(client, base, key, pdfs, seconds, stats)))
        lag = asyncio.create_task(loop_lag(stats["askers_lag_ms"]))
        # Askers finish the question they are on; bounded, in case the server stops answering.
        done, pending = await asyncio.wait(tasks, timeout=seconds + 120)
        for task in pending:
            task.cancel()
        stats["unfinished"] = len(pending)
        lag.cancel()
        stats["wall_s"] = time.monotonic() - started
    return stats


# --- the servers ----------------------------------------------------------------------------------


def start(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def serve_fake_vendor(port: int, tokens: int, rate: float) -> None:
    """An OpenAI-compatible chat-completions server for many streams at once: one event loop (the
    threaded one of tests/fake_vendors.py spends its time switching 200 threads, and a token it had
    stamped waited for the GIL before it was sent, counted as the server's latency). Each token is
    stamped with the wall clock just before it is written; the usage chunk, the end marker and
    [DONE] follow as a real vendor sends them."""
    def event(payload: dict) -> bytes:
        return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"(?im)^content-length: *(\d+)", head)
            body = json.loads(await reader.readexactly(int(length.group(1)) if length else 0) or b"{}")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                         b"Connection: close\r\n\r\n")
            model = body.get("model", "fake")
            writer.write(event(openai_chunk(model, {"role": "assistant", "content": ""})))
            for n in range(tokens):
                await asyncio.sleep(1 / rate)
                writer.write(event(openai_chunk(model, {"content": f"{time.time_ns()}|w{n} "})))
            writer.write(event(openai_chunk(model, {}, finish="stop")))
            writer.write(event(openai_chunk(model, None, usage=openai_usage(42, tokens))))
            writer.write(b"data: [DONE]\n\n")
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the server closed its upstream (its client left): as a vendor sees it
        finally:
            writer.close()

    async def serve() -> None:
        server = await asyncio.start_server(answer, "127.0.0.1", port, backlog=2048)
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


def run_mode(mode: str, askers: int, env: dict, key: str, batch: int, work: Path, options):
    """The load on a fresh server (and fake provider), with a worker ingesting meanwhile. Returns
    the figures and the processes still running (the worker goes on ingesting what is left)."""
    log = work / f"{mode}.log"
    server_env = dict(env)
    running = []
    try:
        if mode == "fake":
            vendor_port = free_port()
            running.append(start([sys.executable, __file__, "fake-vendor", str(vendor_port), str(options.tokens),
                                  str(options.rate)], env, log))
            server_env.update(RAGSITE_LLM="openai", RAGSITE_LLM_MODEL="fake-model", RAGSITE_LLM_API_KEY="unused",
                              RAGSITE_LLM_BASE_URL=f"http://127.0.0.1:{vendor_port}/v1")
        port = free_port()
        server = start([sys.executable, "-m", "uvicorn", "ragsite.asgi:application", "--host", "127.0.0.1",
                        "--port", str(port), "--log-level", "warning", "--no-access-log", "--backlog", "2048"],
                       server_env, log)
        running.append(start([sys.executable, "-m", "celery", "-A", "ragsite", "worker", "--pool=solo", "--beat",
                              f"--schedule={work / f'beat-{mode}'}", "--loglevel=WARNING", "--without-mingle",
                              "--without-gossip"], env, log))
        try:
            base = f"http://127.0.0.1:{port}"
            wait_http(f"{base}/api/schema/", timeout=120)
            warm = asyncio.run(load(base, 2, 0.1, key, 0, batch))
            if warm["errors"] or warm["answers"] < 2:
                raise SystemExit(f"warm-up failed: {warm['errors']}; see {log}")
            ramp = options.ramp if options.ramp is not None else {"fake": 10.0, "default": 0.0}[mode]
            vendor = running[0] if mode == "fake" else None
            cpu_before = {"server": cpu_seconds(server.pid), "worker": cpu_seconds(running[-1].pid),
                          "clients": time.process_time(), "vendor": cpu_seconds(vendor.pid) if vendor else 0.0}
            stats = asyncio.run(load(base, askers, options.seconds, key, options.uploads, batch, ramp))
            stats["cpu"] = {"server": cpu_seconds(server.pid) - cpu_before["server"],
                            "worker": cpu_seconds(running[-1].pid) - cpu_before["worker"],
                            "clients": time.process_time() - cpu_before["clients"],
                            "vendor": (cpu_seconds(vendor.pid) - cpu_before["vendor"]) if vendor else 0.0}
        finally:
            stop(server)
    except BaseException:
        for proc in running:
            stop(proc)
        raise
    stats["log"] = log
    return stats, running


def report(mode: str, askers: int, seconds: float, stats: dict) -> None:
    ms = lambda values, q: percentile(values, q) * 1000  # noqa: E731
    errors = stats["errors"]
    summary = {}
    for error in errors:
        summary[error] = summary.get(error, 0) + 1
    print(
        f"{mode:7} {askers:4d} askers, {seconds:g} s: {stats['answers']} answers in {stats['wall_s']:.1f} s = "
        f"{stats['answers'] / stats['wall_s']:.1f} answers/s; client errors {len(errors)}{' ' + str(summary) if errors else ''}; "
        f"refused (503) {stats['refused']}; unfinished {stats['unfinished']}; streams open at once: at most {stats['most_open']}\n"
        f"        first byte ms p50 {ms(stats['first_byte'], 50):.0f} p95 {ms(stats['first_byte'], 95):.0f}; "
        f"first token p50 {ms(stats['first_token'], 50):.0f} p95 {ms(stats['first_token'], 95):.0f}; "
        f"total p50 {ms(stats['total'], 50):.0f} p95 {ms(stats['total'], 95):.0f}",
        flush=True,
    )
    if stats["added_ms"]:
        added = stats["added_ms"]
        print(f"        added latency provider->client ms over {len(added)} tokens: p50 {percentile(added, 50):.1f} "
              f"p95 {percentile(added, 95):.1f} p99 {percentile(added, 99):.1f}", flush=True)
    lag = stats["askers_lag_ms"]
    print(f"        the askers' own event loop, late by ms: p50 {percentile(lag, 50):.1f} p95 {percentile(lag, 95):.1f} "
          f"p99 {percentile(lag, 99):.1f}", flush=True)
    cpu = stats["cpu"]
    print(f"        uploads during the run: {stats['uploads']}; CPU seconds: server {cpu['server']:.1f}, "
          f"worker {cpu['worker']:.1f}, askers {cpu['clients']:.1f}, fake vendor {cpu['vendor']:.1f}; load average now {os.getloadavg()[0]:.1f}", flush=True)


def check_corpus(timeout: float) -> bool:
    """Wait (bounded) for every document to settle and the index to follow; then check that no
    chunk was duplicated or lost. Prints what it found; True when all holds."""
    from django.db.models import Count, F, Max, Min

    from documents.models import Chunk, Document, SearchIndexState

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        unsettled = Document.objects.exclude(status__in=["ready", "failed"]).count()
        state = SearchIndexState.objects.filter(pk=1).first()
        stale = Document.objects.filter(status="ready").exclude(indexed_generation=F("generation")).count()
        if not unsettled and state and not state.rebuild_requested and not state.building_since and not stale:
            break
        time.sleep(1)
    problems = []
    documents = list(Document.objects.all())
    for document in documents:
        if document.status == "failed":
            if not document.error:
                problems.append(f"{document.original_filename}: failed without a reason")
            continue
        if document.status != "ready":
            problems.append(f"{document.original_filename}: still {document.status} after {timeout:g} s")
            continue
        chunks = Chunk.objects.filter(document=document)
        facts = chunks.aggregate(n=Count("pk"), low=Min("ordinal"), high=Max("ordinal"), gens=Count("generation", distinct=True))
        distinct = chunks.values("ordinal").distinct().count()
        if not (facts["n"] == document.chunk_count == distinct > 0 and facts["gens"] == 1 and facts["low"] == 0
                and facts["high"] == document.chunk_count - 1
                and not chunks.exclude(generation=document.generation).exists()):
            problems.append(f"{document.original_filename}: chunks {facts}, distinct ordinals {distinct}, "
                            f"chunk_count {document.chunk_count}, generation {document.generation}")
        if document.indexed_generation != document.generation:
            problems.append(f"{document.original_filename}: index holds generation {document.indexed_generation}, "
                            f"not {document.generation}")
    state = SearchIndexState.objects.filter(pk=1).first()
    ready_chunks = sum(d.chunk_count for d in documents if d.status == "ready")
    if state is None or state.chunk_count != ready_chunks:
        problems.append(f"index in service holds {state and state.chunk_count} chunks, ready documents {ready_chunks}")
    ready = sum(d.status == "ready" for d in documents)
    failed = [d for d in documents if d.status == "failed"]
    print(f"corpus: {len(documents)} documents, {ready} ready, {len(failed)} failed"
          f"{' (' + '; '.join(d.error[:60] for d in failed) + ')' if failed else ''}, {ready_chunks} chunks, "
          f"index v{state and state.current_version} with {state and state.chunk_count}: "
          f"{'no chunk duplicated or lost' if not problems else 'PROBLEMS: ' + '; '.join(problems)}", flush=True)
    return not problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modes", nargs="+", choices=["fake", "default"], default=["fake", "default"])
    parser.add_argument("--askers", type=int, nargs="+", default=None,
                        help="askers per mode, in the order of --modes (default: 200 fake, 50 default)")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--uploads", type=int, default=3, help="documents uploaded during each mode's run")
    parser.add_argument("--ramp", type=float, default=None,
                        help="askers start spread over this many seconds (default: 10 with the fake provider, "
                             "0 on the default mode: all at once, the queue's hardest case)")
    parser.add_argument("--tokens", type=int, default=300, help="tokens per fake-provider answer")
    parser.add_argument("--rate", type=float, default=30.0, help="fake-provider tokens per second per stream")
    parser.add_argument("--output", type=Path, metavar="DIR",
                        help="also write the figures to DIR as bench-load-<date>.json and .md (docs/results/)")
    options = parser.parse_args()
    askers = options.askers or [{"fake": 200, "default": 50}[mode] for mode in options.modes]

    work = Path(tempfile.mkdtemp(prefix="ragsite-load-"))
    (work / "var").mkdir()
    env = setup_django(work)
    key = prepare_corpus()
    from django.conf import settings

    threads = settings.RAGSITE_WORKER_TORCH_THREADS or "the cores left idle"
    print(f"cores: {os.cpu_count()}; load average {os.getloadavg()[0]:.1f}; worker CPU priority "
          f"{settings.RAGSITE_WORKER_CPU_PRIORITY}, torch threads {threads}; work folder {work}", flush=True)
    ok, runs = True, []
    for batch, (mode, count) in enumerate(zip(options.modes, askers)):
        stats, running = run_mode(mode, count, env, key, batch, work, options)
        try:
            report(mode, count, options.seconds, stats)
            corpus_ok = check_corpus(timeout=180)
            ok = corpus_ok and ok
            runs.append({**load_summary(mode, count, options.seconds, stats), "corpus_ok": corpus_ok})
        finally:
            for proc in running:
                stop(proc)
    if options.output:
        from querying.management.results import Table, results_write

        columns = ["mode", "askers", "answers_per_s", "client_errors", "refused_503", "most_open", "first_byte_ms",
                   "added_latency_ms", "cpu_s", "corpus_ok"]
        results_write(options.output, "bench-load", {
            "worker_cpu_priority": settings.RAGSITE_WORKER_CPU_PRIORITY, "worker_torch_threads": str(threads),
            "uploads": options.uploads, "seconds": options.seconds, "runs": runs,
        }, [Table("Askers while documents are ingested", columns, [[
            run[column] if not isinstance(run[column], dict) else
            " / ".join(f"{name} {value:.1f}" for name, value in run[column].items()) for column in columns
        ] for run in runs])])
    sys.exit(0 if ok else 1)


def load_summary(mode: str, askers: int, seconds: float, stats: dict) -> dict:
    """What report() prints of a mode's run, for a result file (seconds as ms)."""
    ms = lambda values, q: percentile(values, q) * 1000  # noqa: E731
    return {
        "mode": mode, "askers": askers, "seconds": seconds, "answers": stats["answers"],
        "answers_per_s": stats["answers"] / stats["wall_s"], "client_errors": len(stats["errors"]),
        "errors": sorted(set(stats["errors"])), "refused_503": stats["refused"], "unfinished": stats["unfinished"],
        "most_open": stats["most_open"], "uploads": stats["uploads"],
        "first_byte_ms": {"p50": ms(stats["first_byte"], 50), "p95": ms(stats["first_byte"], 95)},
        "first_token_ms": {"p50": ms(stats["first_token"], 50), "p95": ms(stats["first_token"], 95)},
        "total_ms": {"p50": ms(stats["total"], 50), "p95": ms(stats["total"], 95)},
        "added_latency_ms": {f"p{q}": percentile(stats["added_ms"], q) for q in (50, 95, 99)} if stats["added_ms"] else {},
        "askers_lag_ms": {f"p{q}": percentile(stats["askers_lag_ms"], q) for q in (50, 95, 99)},
        "cpu_s": stats["cpu"],
    }


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "fake-vendor":
        serve_fake_vendor(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
    else:
        main()
