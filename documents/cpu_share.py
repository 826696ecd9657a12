"""How many cores a worker may embed on: the ones the other processes on the machine leave idle.

A worker that shares its machine with web processes must not take the core a reader's stream is
relayed on: on 2 cores, 200 streams while a worker embedded with both cores gave added latency p95
43 ms, with one 15-19 ms (docs/decisions/0011-worker-idle-priority-on-idle-cores.md). On a quiet
machine one thread halves ingestion (14.6 against 26.3 chunks/s). So a worker measures, before each
forward pass of the embedding model, how busy the rest of the machine was since the last look, and
uses the cores that were idle.

Only Linux says how busy the machine is (/proc/stat); elsewhere the worker keeps every core.
"""

from __future__ import annotations

import logging
import math
import os
import time
from typing import Callable

logger = logging.getLogger(__name__)

# A core the other processes used less than this share of counts as idle: a quiet server's own
# housekeeping (the beat scheduler, a database checkpoint) takes a few hundredths.
_BUSY_FLOOR = 0.2
# The shortest time measured over: /proc/stat counts in hundredths of a second.
_WINDOW_SECONDS = 0.25


def threads_for(*, cores: int, others_busy: float, maximum: int) -> int:
    """Threads to embed on: the cores the other processes left idle (a core they used less than a
    fifth of counts as idle), at least one, at most `maximum`. others_busy: the cores' worth of
    CPU time the rest of the machine used per second."""
    if not math.isfinite(others_busy):
        others_busy = float(cores)
    taken = max(0, math.ceil(others_busy - _BUSY_FLOOR))
    return max(1, min(maximum, cores - taken))


def machine_busy_seconds() -> float | None:
    """CPU seconds the whole machine has spent busy since it started (every core; idle and
    waiting for the disk left out), or None where /proc/stat cannot be read."""
    try:
        with open("/proc/stat", "rb") as stat:
            fields = stat.readline().split()
    except OSError:
        return None
    if len(fields) < 6 or fields[0] != b"cpu":
        return None
    ticks = [int(value) for value in fields[1:9]]  # user nice system idle iowait irq softirq steal
    busy = sum(ticks) - ticks[3] - ticks[4]
    return busy / os.sysconf("SC_CLK_TCK")


def process_cpu_seconds() -> float:
    """CPU seconds this process has used, every thread of it."""
    times = os.times()
    return times.user + times.system


class SpareCores:
    """Answers "how many threads now?" from how busy the rest of the machine was since the last
    answer that measured (at most every _WINDOW_SECONDS; in between, the last answer holds)."""

    def __init__(
        self, *, maximum: int, cores: int | None = None,
        machine: Callable[[], float | None] = machine_busy_seconds,
        own: Callable[[], float] = process_cpu_seconds,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.maximum = max(1, maximum)
        self.cores = cores or os.cpu_count() or 1
        self._machine, self._own, self._clock = machine, own, clock
        self._last = self._sample()
        # Until the first measurement, one thread: a worker that starts beside busy web
        # processes must not take their core for the length of a first forward pass.
        self.current = 1

    def _sample(self) -> tuple[float, float, float] | None:
        machine = self._machine()
        return None if machine is None else (self._clock(), machine, self._own())

    def threads(self) -> int:
        if self._last is None:
            return self.maximum
        then, machine_then, own_then = self._last
        now = self._clock()
        if now - then < _WINDOW_SECONDS:
            return self.current
        sample = self._sample()
        if sample is None:
            return self.maximum
        _, machine_now, own_now = sample
        others = max(0.0, (machine_now - machine_then) - (own_now - own_then)) / (now - then)
        self._last = sample
        self.current = threads_for(cores=self.cores, others_busy=others, maximum=self.maximum)
        return self.current


def cpu_priority(priority: str) -> None:
    """Lower this process's CPU priority: "low" (nice 19) or "idle" (Linux's SCHED_IDLE: it runs
    only on CPU time no other process wants); "normal" leaves it. Every thread it has now is
    set, and threads and processes started later inherit it (torch's, a prefork pool's)."""
    if priority == "normal":
        return
    idle = priority == "idle" and hasattr(os, "SCHED_IDLE")
    if priority == "idle" and not idle:
        logger.warning("this system has no SCHED_IDLE: the worker runs at nice 19 instead")
    try:
        threads = [int(tid) for tid in os.listdir("/proc/self/task")]
    except OSError:  # no /proc: this thread only
        threads = [0]
    for tid in threads:
        if idle:
            os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))
        else:
            os.setpriority(os.PRIO_PROCESS, tid, 19)
