"""What `make run` costs: the memory of each process it starts and how soon a web process answers.

    .venv/bin/python bench/footprint.py                    # the web process and the worker, as make run starts them
    .venv/bin/python bench/footprint.py --web-workers 4    # uvicorn --workers 4: what each extra web process adds
    .venv/bin/python bench/footprint.py --output docs/results

In a temporary data folder (SQLite, the file broker), the sample PDF is ingested as `make run`
ingests it; then the worker (`celery worker --pool=solo --beat`) and uvicorn start with make run's
own arguments. From uvicorn's start, a question is asked until one is answered: the time to the
first answer, then the second question's time (the first asker must wait no longer than the
second). Then each process's resident memory (RSS) and proportional set size (PSS: pages shared
between processes, a memory-mapped index or libraries, counted once in all), read from
/proc/PID/smaps_rollup: idle, after questions, and after the worker has ingested a real PDF
(`--upload`, the R data manual of the regression corpus when `make corpus` fetched it); and the
sum over all of them after questions.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.load import free_port, stop  # noqa: E402  (after the path)

QUESTIONS = ["How long is the warranty?", "What does the red light mean?", "How do I clean the filter?"]


def memory(pid: int) -> dict:
    """RSS and PSS of one process, in MB."""
    figures = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("Rss", "Pss"):
            figures[name.lower()] = int(rest.split()[0]) / 1024
    return figures


def tree(pid: int) -> list[int]:
    """pid and every process below it."""
    parents = {}
    for entry in Path("/proc").iterdir():
        try:
            parents[int(entry.name)] = int(entry.joinpath("stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    found, frontier = [pid], [pid]
    while frontier:
        frontier = [child for child, parent in parents.items() if parent in frontier]
        found += frontier
    return found


def processes(web: subprocess.Popen, worker: subprocess.Popen) -> dict[str, dict]:
    """Each process's memory, named by role."""
    named = {}
    for role, root in (("web", web.pid), ("worker", worker.pid)):
        for n, pid in enumerate(tree(root)):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:80]
                named[f"{role}[{n}] {pid}"] = {**memory(pid), "command": cmdline}
            except OSError:
                continue
    return named


def ask(base: str, question: str) -> float:
    started = time.perf_counter()
    response = httpx.post(f"{base}/query", json={"question": question}, timeout=120)
    response.raise_for_status()
    return time.perf_counter() - started


def first_answer(base: str, started: float, timeout: float = 300) -> float:
    """Seconds from the web process's start to its first answer."""
    while time.perf_counter() - started < timeout:
        try:
            ask(base, QUESTIONS[0])
            return time.perf_counter() - started
        except httpx.HTTPError:
            time.sleep(0.05)
    raise SystemExit("no answer in time")


def upload(env: dict, path: Path, timeout: float = 900) -> str:
    """Store path as a new document, as an upload does, and wait for the worker to ingest it."""
    code = ("import os, time; from django.core.files import File; from documents.services import document_create; "
            "from documents.models import Document\n"
            "path = os.environ['FOOTPRINT_UPLOAD']\n"
            "with open(path, 'rb') as handle: document = document_create(file=File(handle), filename=os.path.basename(path))\n"
            f"deadline = time.monotonic() + {timeout}\n"
            "while Document.objects.get(pk=document.pk).status not in ('ready', 'failed') and time.monotonic() < deadline:\n"
            "    time.sleep(0.5)\n"
            "print(Document.objects.get(pk=document.pk).status)")
    done = subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env={**env, "FOOTPRINT_UPLOAD": str(path)},
                          check=True, capture_output=True, text=True, timeout=timeout + 60)
    return done.stdout.strip().splitlines()[-1]


def prepare(work: Path) -> dict:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    env.update(RAGSITE_DATA_DIR=str(work), DEBUG="true", SECRET_KEY=secrets.token_urlsafe(50), PYTHONUNBUFFERED="1",
               RAGSITE_LOG_LEVEL="WARNING", DJANGO_SETTINGS_MODULE="ragsite.settings")
    python = [sys.executable, "manage.py"]
    for args in (["migrate", "--noinput", "-v0"], ["ingest", "sample/", "--no-progress"]):
        subprocess.run(python + args, cwd=ROOT, env=env, check=True, capture_output=True, timeout=900)
    return env


def measure(env: dict, work: Path, web_workers: int, document: Path | None) -> dict:
    log = (work / "processes.log").open("ab")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "ragsite", "worker", "--pool=solo", "--beat",
         f"--schedule={work / 'celerybeat-schedule'}", "--loglevel=WARNING"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    port = free_port()
    args = [sys.executable, "-m", "uvicorn", "ragsite.asgi:application", "--host", "127.0.0.1", "--port", str(port)]
    started = time.perf_counter()
    web = subprocess.Popen(args + (["--workers", str(web_workers)] if web_workers > 1 else []), cwd=ROOT, env=env,
                           stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        to_first = first_answer(base, started)
        second = ask(base, QUESTIONS[1])
        time.sleep(3)  # the worker's start-up sweep and beat settle
        idle = processes(web, worker)
        for question in QUESTIONS * 3:
            ask(base, question)
        after = processes(web, worker)
        ingested = upload(env, document) if document else ""
        if ingested:
            time.sleep(3)
        after_upload = processes(web, worker) if ingested else {}
    finally:
        stop(web)
        stop(worker)
    return {"web_workers": web_workers, "first_answer_s": round(to_first, 2), "second_question_s": round(second, 3),
            "idle": idle, "after_questions": after, "upload": document.name if document else "", "upload_status": ingested,
            "after_upload": after_upload,
            "total_rss_mb": round(sum(p["rss"] for p in after.values())),
            "total_pss_mb": round(sum(p["pss"] for p in after.values()))}


def report(run: dict) -> None:
    print(f"\nuvicorn with {run['web_workers']} web process(es): first answer {run['first_answer_s']:.2f} s after "
          f"start, the second question {run['second_question_s'] * 1000:.0f} ms")
    print(f"{'process':<22}{'RSS idle':>10}{'PSS idle':>10}{'RSS after':>11}{'PSS after':>11}{'RSS upload':>12}  command")
    for name, figures in run["after_questions"].items():
        idle, uploaded = run["idle"].get(name, {}), run["after_upload"].get(name, {})
        print(f"{name:<22}{idle.get('rss', 0):>10.0f}{idle.get('pss', 0):>10.0f}{figures['rss']:>11.0f}"
              f"{figures['pss']:>11.0f}{uploaded.get('rss', 0):>12.0f}  {figures['command']}")
    print(f"all processes after questions: RSS {run['total_rss_mb']} MB, PSS {run['total_pss_mb']} MB")
    if run["upload"]:
        print(f"after the worker ingested {run['upload']} ({run['upload_status']}): "
              f"RSS {round(sum(p['rss'] for p in run['after_upload'].values()))} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--web-workers", type=int, nargs="+", default=[1], help="uvicorn --workers, one run each")
    corpus = Path(os.environ.get("RAGSITE_CORPUS_DIR") or Path.home() / ".cache" / "ragsite-corpus")
    parser.add_argument("--upload", type=Path, default=corpus / "r-data-manual.pdf",
                        help="a PDF the worker ingests before the last measurement (skipped when absent)")
    parser.add_argument("--output", type=Path, metavar="DIR",
                        help="also write the figures to DIR as bench-footprint-<date>.json and .md (docs/results/)")
    options = parser.parse_args()
    runs = []
    for count in options.web_workers:
        work = Path(tempfile.mkdtemp(prefix="ragsite-bench-footprint-"))
        run = measure(prepare(work), work, count, options.upload if options.upload.is_file() else None)
        report(run)
        runs.append(run)
    if options.output:
        from querying.management.results import Table, results_write

        rows = [[run["web_workers"], run["first_answer_s"], round(run["second_question_s"] * 1000), name,
                 round(p["rss"]), round(p["pss"]), round(run["after_upload"].get(name, {}).get("rss", 0))]
                for run in runs for name, p in run["after_questions"].items()]
        results_write(options.output, "bench-footprint", {"runs": runs}, [Table(
            "Memory per process after questions, and after the worker ingested a PDF (MB)",
            ["web processes", "first answer s", "second question ms", "process", "RSS", "PSS", "RSS after upload"], rows)])
    print(json.dumps({run["web_workers"]: [run["total_rss_mb"], run["total_pss_mb"]] for run in runs}))


if __name__ == "__main__":
    main()
