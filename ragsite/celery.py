import logging
import os

from celery import Celery
from celery.signals import worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ragsite.settings")

logger = logging.getLogger(__name__)

app = Celery("ragsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


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


@worker_init.connect
def worker_cpu_share(**_):
    """The worker's share of the machine: its CPU priority and torch's threads
    (RAGSITE_WORKER_CPU_PRIORITY, RAGSITE_WORKER_TORCH_THREADS)."""
    from django.conf import settings

    from documents.embedding import worker_torch_threads

    cpu_priority(settings.RAGSITE_WORKER_CPU_PRIORITY)
    worker_torch_threads(settings.RAGSITE_WORKER_TORCH_THREADS)
