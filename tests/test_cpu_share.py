"""A worker embeds on the cores the other processes leave idle (documents.cpu_share), so a reader's
stream keeps its core while documents are ingested, and a quiet machine ingests at full speed."""

import os
import subprocess
import sys
import time

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from documents import embedding
from documents.cpu_share import SpareCores, machine_busy_seconds, threads_for

busy_shares = st.floats(min_value=0, max_value=64, allow_nan=False)


@given(cores=st.integers(1, 64), maximum=st.integers(1, 64), others=busy_shares, more=busy_shares)
def test_threads_stay_between_one_and_the_maximum_and_fall_as_the_machine_gets_busier(cores, maximum, others, more):
    fewer_idle = threads_for(cores=cores, others_busy=others + more, maximum=maximum)
    threads = threads_for(cores=cores, others_busy=others, maximum=maximum)
    assert 1 <= fewer_idle <= threads <= min(maximum, cores)


@given(cores=st.integers(1, 64), maximum=st.integers(1, 64), quiet=st.floats(0, 0.2))
def test_a_quiet_machine_gets_every_core_and_a_full_one_gets_one_thread(cores, maximum, quiet):
    assert threads_for(cores=cores, others_busy=quiet, maximum=maximum) == min(cores, maximum)
    assert threads_for(cores=cores, others_busy=float(cores), maximum=maximum) == 1
    assert threads_for(cores=cores, others_busy=float("nan"), maximum=maximum) == 1


def test_a_web_process_relaying_most_of_a_core_leaves_the_worker_the_other_one():
    assert threads_for(cores=2, others_busy=0.75, maximum=2) == 1
    assert threads_for(cores=4, others_busy=0.75, maximum=4) == 3


class Counters:
    """A machine whose busy time and this process's CPU time the test sets."""

    def __init__(self):
        self.now = self.machine = self.own = 0.0

    def advance(self, seconds: float, *, machine: float, own: float):
        self.now += seconds
        self.machine += machine
        self.own += own


def spare_cores(counters: Counters, *, cores: int = 2) -> SpareCores:
    return SpareCores(
        maximum=cores, cores=cores, machine=lambda: counters.machine, own=lambda: counters.own, clock=lambda: counters.now
    )


def test_what_the_worker_itself_uses_is_not_counted_as_the_others_load():
    counters = Counters()
    spare = spare_cores(counters)
    assert spare.threads() == 1  # nothing measured yet: one thread, in case the machine is busy
    counters.advance(1.0, machine=1.95, own=1.9)  # the worker alone kept both cores busy
    assert spare.threads() == 2
    counters.advance(1.0, machine=1.9, own=1.0)  # something else took most of a core
    assert spare.threads() == 1
    counters.advance(1.0, machine=1.1, own=1.0)  # it stopped
    assert spare.threads() == 2


def test_a_short_interval_keeps_the_last_answer_until_it_can_be_measured():
    counters = Counters()
    spare = spare_cores(counters)
    counters.advance(1.0, machine=1.0, own=1.0)
    assert spare.threads() == 2
    counters.advance(0.1, machine=0.2, own=0.0)  # too short for /proc/stat's hundredths
    assert spare.threads() == 2
    counters.advance(0.2, machine=0.4, own=0.1)  # 0.3 s since the last look: others used 0.5 of 0.3 s
    assert spare.threads() == 1


def test_without_proc_stat_the_worker_keeps_every_core():
    spare = SpareCores(maximum=2, cores=2, machine=lambda: None)
    assert spare.threads() == 2


def burner() -> subprocess.Popen:
    """A process that keeps one core busy until it is killed."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


@pytest.mark.skipif(machine_busy_seconds() is None, reason="no /proc/stat on this system")
@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: the worker always has one thread")
def test_a_process_that_keeps_a_core_busy_takes_that_core_from_the_worker():
    spare = SpareCores(maximum=os.cpu_count())
    process = burner()
    try:
        time.sleep(0.2)
        spare.threads()  # starts a measurement over a time the burner ran throughout
        time.sleep(0.5)
        assert spare.threads() <= os.cpu_count() - 1
    finally:
        process.kill()
        process.wait()


def test_each_forward_pass_asks_first_and_the_vectors_come_back_in_the_texts_order(monkeypatch):
    embedder = embedding.get_embedder()
    asked = []
    monkeypatch.setattr(embedding, "_before_forward", lambda: asked.append(1))
    texts = ["a short line", "a much longer line about the pump, the valve and the filter of the kettle", "x", "mid length text"]
    vectors = embedder.embed(texts, batch_size=2)
    assert len(asked) == 2  # four texts, two a pass
    one_by_one = np.stack([embedder.embed([text])[0] for text in texts])
    assert np.allclose(vectors, one_by_one, atol=1e-4)


@pytest.mark.skipif(machine_busy_seconds() is None, reason="no /proc/stat on this system")
@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: the worker always has one thread")
def test_a_worker_started_with_no_thread_count_embeds_beside_a_busy_process_on_fewer_cores(monkeypatch):
    """RAGSITE_WORKER_TORCH_THREADS=0 (the default), as a worker starts: torch's threads follow the
    cores the rest of the machine leaves idle."""
    import torch

    monkeypatch.setattr(embedding, "_before_forward", None)
    before = torch.get_num_threads()
    process = burner()
    try:
        torch.set_num_threads(os.cpu_count())
        embedding.worker_torch_threads(0)
        time.sleep(0.5)
        embedding.get_embedder().embed(["the first forward pass measures the half second before it"])
        assert torch.get_num_threads() <= os.cpu_count() - 1
    finally:
        process.kill()
        process.wait()
        torch.set_num_threads(before)
