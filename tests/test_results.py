"""Result files (querying.management.results): the header that says when, where and from which
commit figures came, and the Markdown table beside the JSON."""

import json
import subprocess
from datetime import datetime, timezone

from querying.management.results import ROOT, Table, flat_table, git_state, results_write


def test_a_result_file_has_its_header_and_a_markdown_table(tmp_path):
    now = datetime(2026, 12, 6, 14, 5, tzinfo=timezone.utc)
    report = {"recall@5": 0.924, "runs": [{"p95_ms": 14.6}, {"p95_ms": 14.5}], "mode": "extractive"}
    table = Table("Retrieval", ["method", "recall@5"], [["fused", 0.924], ["dense | only", None]])

    json_path, markdown_path = results_write(tmp_path, "bench-load", report, [table], argv=["bench/load.py", "--x", "a b"],
                                             now=now)

    assert json_path.name == "bench-load-20261206-1405.json" and markdown_path == json_path.with_suffix(".md")
    written = json.loads(json_path.read_text())
    assert written["report"] == report
    head = written["header"]
    assert head["date"] == "2026-12-06T14:05:00+00:00"
    assert head["command"] == "bench/load.py --x 'a b'"
    machine = head["machine"]
    assert machine["hostname"] and machine["cpu_model"] and machine["cpus"] >= machine["cpus_usable"] >= 1
    assert machine["memory_gib"] > 0
    assert set(head["git"]) == {"commit", "dirty"}

    markdown = markdown_path.read_text()
    assert markdown.startswith("# bench-load\n")
    for line in ("- date: 2026-12-06T14:05:00+00:00", f"- machine: {machine['hostname']}",
                 "- command: `bench/load.py --x 'a b'`", "### Retrieval", "| method | recall@5 |", "| --- | --- |",
                 "| fused | 0.924 |", "| dense \\| only |  |", f"[{json_path.name}]({json_path.name})"):
        assert line in markdown, line


def test_a_second_run_in_the_same_minute_does_not_overwrite_the_first(tmp_path):
    now = datetime(2026, 12, 6, 14, 5, tzinfo=timezone.utc)
    first = results_write(tmp_path, "evaluate", {"a": 1}, argv=["x"], now=now)
    second = results_write(tmp_path, "evaluate", {"a": 2}, argv=["x"], now=now)
    assert first[0].name == "evaluate-20261206-1405.json" and second[0].name == "evaluate-20261206-1405-2.json"
    assert json.loads(first[0].read_text())["report"] == {"a": 1}
    # with no table given, every figure of the report is one
    assert "| a | 2 |" in second[1].read_text()


def test_flat_table_names_each_figure_by_its_path():
    rows = flat_table({"fake": {"added_ms": {"p95": 14.6}, "tokens": list(range(100))}, "modes": ["fake", "default"]}).rows
    assert rows == [["fake.added_ms.p95", 14.6], ["fake.tokens", "100 values"], ["modes", "fake, default"]]


def test_git_state_names_the_commit_checked_out():
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    state = git_state()
    assert state["commit"] == head and state["dirty"] in (True, False)
    assert git_state(ROOT / "no-such-folder") == {"commit": "", "dirty": None}
