"""Who may retrieve now, who waits, and who is told to come back: at most
RAGSITE_RETRIEVAL_THREADS retrievals run at once in a web process, at most
RAGSITE_QUERY_QUEUE_MAX questions wait for one (first come, first served, /query and
/query/stream alike), and past that a question is refused at once with 503 and Retry-After
instead of waiting until its client gives up.

    ticket = retrieval_gate().admit()     # raises QueueFull
    try:
        await ticket.wait()               # or ticket.wait_sync() in a thread
        ...retrieve...
    finally:
        ticket.release()
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque

from django.conf import settings

# What a refused client is told to wait: about what a full queue takes to drain on 2 cores.
RETRY_AFTER_SECONDS = 5


class QueueFull(Exception):
    """Every retrieval slot is taken and the queue in front of them is full."""

    retry_after = RETRY_AFTER_SECONDS

    def __init__(self, waiting: int):
        super().__init__(f"the server is answering as many questions as it can ({waiting} waiting); try again in {self.retry_after} s")
        self.message = str(self)


class Ticket:
    """One question's place: granted at once, or waiting in the queue until a slot is handed to
    it. release() gives the slot (or the place in the queue) up; it is safe to call twice."""

    def __init__(self, gate: "RetrievalGate"):
        self._gate = gate
        self.state = "waiting"  # then "granted", then "released"
        self.queued = False  # whether it had to wait when it was admitted
        self._granted = threading.Event()
        self._wakers: list[tuple[asyncio.AbstractEventLoop, asyncio.Future]] = []

    def _grant(self) -> None:  # under the gate's lock
        self.state = "granted"
        self._granted.set()
        for loop, future in self._wakers:
            loop.call_soon_threadsafe(_resolve, future)
        self._wakers.clear()

    def wait_sync(self) -> None:
        """Block this thread until the ticket holds a slot."""
        self._granted.wait()

    async def wait(self) -> None:
        """Until the ticket holds a slot, holding no thread meanwhile."""
        with self._gate.lock:
            if self.state == "granted":
                return
            loop = asyncio.get_running_loop()
            future = loop.create_future()
            self._wakers.append((loop, future))
        await future

    def release(self) -> None:
        self._gate.release(self)


def _resolve(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)


class RetrievalGate:
    """At most `slots` tickets granted at once, at most `queue_max` waiting for one."""

    def __init__(self, slots: int, queue_max: int):
        self.slots = max(1, slots)
        self.queue_max = max(0, queue_max)
        self.lock = threading.Lock()
        self.running = 0
        self.waiting: deque[Ticket] = deque()

    def admit(self) -> Ticket:
        """A ticket, granted now if a slot is free and nobody waits; raises QueueFull when the
        queue is full."""
        ticket = Ticket(self)
        with self.lock:
            if self.running < self.slots and not self.waiting:
                self.running += 1
                ticket._grant()
            elif len(self.waiting) >= self.queue_max:
                raise QueueFull(len(self.waiting))
            else:
                ticket.queued = True
                self.waiting.append(ticket)
        return ticket

    def release(self, ticket: Ticket) -> None:
        with self.lock:
            if ticket.state == "waiting":  # gave up its place (the client went away)
                self.waiting.remove(ticket)
            elif ticket.state == "granted":
                if self.waiting:  # the slot goes straight to the next in line
                    self.waiting.popleft()._grant()
                else:
                    self.running -= 1
            ticket.state = "released"


_gate_lock = threading.Lock()
_gate: RetrievalGate | None = None


def retrieval_gate() -> RetrievalGate:
    """This process's gate, sized by the settings (made again when a test changes them)."""
    global _gate
    slots, queue_max = settings.RAGSITE_RETRIEVAL_THREADS, settings.RAGSITE_QUERY_QUEUE_MAX
    with _gate_lock:
        if _gate is None or (_gate.slots, _gate.queue_max) != (max(1, slots), max(0, queue_max)):
            _gate = RetrievalGate(slots, queue_max)
        return _gate
