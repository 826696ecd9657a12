"""Result files: the figures a measurement printed, written where the docs can link them.

`manage.py evaluate --output DIR` and each `bench/*.py --output DIR` call results_write(), which
writes two files side by side, `<name>-<YYYYMMDD-HHMM>.json` (the whole report) and `.md` (its
tables), both opening with the same header: when, on which machine (hostname, CPU model and count,
memory), from which commit (and whether tracked files differed from it), by which command line.
docs/benchmarks.md and docs/search.md link the latest files under docs/results/.

Why here: evaluate is a management command of `querying`, and the benches are scripts outside
the apps that may import any of them; `documents` must not own a tool of measurement that reads
nothing of the corpus. The module is plain Python (standard library only, no Django settings),
so a bench that sets up no Django (bench/ocr.py) imports it as readily as one that does.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository, whose commit the header names


@dataclass
class Table:
    """A Markdown table: a title, column names, and rows of cells (numbers or text)."""

    title: str
    columns: list[str]
    rows: list[list] = field(default_factory=list)


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def machine() -> dict:
    """What the figures were measured on: hostname, CPU model, CPUs (all, and those this process
    may run on), memory."""
    model = next(
        (line.split(":", 1)[1].strip() for line in _read("/proc/cpuinfo").splitlines() if line.startswith("model name")),
        platform.processor() or platform.machine(),
    )
    memory_kb = next(
        (int(line.split()[1]) for line in _read("/proc/meminfo").splitlines() if line.startswith("MemTotal:")), 0
    )
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count() or 0
    return {
        "hostname": socket.gethostname(),
        "cpu_model": model,
        "cpus": os.cpu_count() or 0,
        "cpus_usable": usable,
        "memory_gib": round(memory_kb / 2**20, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def git_state(root: Path = ROOT) -> dict:
    """The commit checked out and whether tracked files differ from it (files nobody added, such
    as result files just written, do not count); empty when git cannot tell."""

    def git(*args) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": "", "dirty": None}
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def header(*, argv: list[str] | None = None, now: datetime | None = None, root: Path = ROOT) -> dict:
    """The header of a result file: date (UTC), machine, git commit, command line."""
    now = now or datetime.now(timezone.utc)
    return {
        "date": now.isoformat(timespec="seconds"),
        "machine": machine(),
        "git": git_state(root),
        "command": shlex.join(sys.argv if argv is None else argv),
    }


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def table_markdown(table: Table) -> str:
    lines = [f"### {table.title}", "", "| " + " | ".join(table.columns) + " |",
             "| " + " | ".join("---" for _ in table.columns) + " |"]
    lines += ["| " + " | ".join(_cell(cell) for cell in row) + " |" for row in table.rows]
    return "\n".join(lines)


def flat_table(report: dict, title: str = "figures", *, skip: tuple[str, ...] = ()) -> Table:
    """A two-column table of every number, text and flag in a nested report (lists of numbers
    are summarised by their length), for a tool with no table of its own."""
    rows = []

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key not in skip:
                    walk(f"{prefix}.{key}" if prefix else str(key), item)
        elif isinstance(value, (list, tuple)):
            if value and all(isinstance(item, dict) for item in value):
                for i, item in enumerate(value):
                    walk(f"{prefix}[{i}]", item)
            elif len(value) <= 8 and all(not isinstance(item, (dict, list)) for item in value):
                rows.append([prefix, ", ".join(_cell(item) for item in value)])
            else:
                rows.append([prefix, f"{len(value)} values"])
        else:
            rows.append([prefix, value])

    walk("", report)
    return Table(title, ["figure", "value"], rows)


def header_markdown(name: str, head: dict) -> str:
    host, git = head["machine"], head["git"]
    state = "" if git.get("dirty") is None else (", tracked files changed" if git["dirty"] else ", clean")
    return "\n".join([
        f"# {name}",
        "",
        f"- date: {head['date']}",
        f"- machine: {host['hostname']}, {host['cpu_model']}, {host['cpus']} CPUs "
        f"({host['cpus_usable']} usable), {host['memory_gib']} GiB",
        f"- commit: `{git.get('commit') or 'unknown'}`{state}",
        f"- command: `{head['command']}`",
    ])


def results_write(
    directory: Path | str, name: str, report: dict, tables: list[Table] | None = None, *,
    argv: list[str] | None = None, now: datetime | None = None,
) -> tuple[Path, Path]:
    """Write `<name>-<YYYYMMDD-HHMM>.json` ({"header", "report"}) and the `.md` beside it (the
    header, then `tables`, or one table of every figure in the report). A second run in the same
    minute gets `-2`, `-3`, ... rather than overwriting. Returns both paths."""
    now = now or datetime.now(timezone.utc)
    head = header(argv=argv, now=now)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"{name}-{now:%Y%m%d-%H%M}"
    candidate, n = stem, 1
    while (directory / f"{candidate}.json").exists() or (directory / f"{candidate}.md").exists():
        n += 1
        candidate = f"{stem}-{n}"
    json_path, markdown_path = directory / f"{candidate}.json", directory / f"{candidate}.md"
    json_path.write_text(json.dumps({"header": head, "report": report}, indent=2, ensure_ascii=False, default=str) + "\n")
    parts = [header_markdown(name, head), *(table_markdown(t) for t in (tables or [flat_table(report)]))]
    parts.append(f"The whole report: [{json_path.name}]({json_path.name}).")
    markdown_path.write_text("\n\n".join(parts) + "\n")
    return json_path, markdown_path
