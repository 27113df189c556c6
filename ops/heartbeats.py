"""Each background process beats under its own identity: kind, host and pid.

- A dispatcher (`run_dispatcher`) beats from its loop, and removes its row when it stops on SIGTERM.
- A worker cluster (`qcluster`) beats from a thread in each of its worker processes, under the
  pid of the cluster's main process (the one an operator sends SIGTERM to): every worker of a
  cluster writes the same row, so the cluster beats as long as any of its workers lives. The
  thread is started by django-q2's `post_spawn` signal (`ops/tasks.py`); it beats whichever
  broker the cluster uses, and a failed beat (the database restarting) is logged once and
  retried, never ending the worker. When the cluster stops cleanly its workers remove the row;
  a worker recycled by django-q2 keeps it (its successor beats on).
A process that vanished (SIGKILL, machine lost) leaves its row: it shows as quiet for an hour
(FORGET_AFTER), then is forgotten.
"""

import logging
import multiprocessing.util
import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from multiprocessing import current_process

from django.conf import settings
from django.db import connection
from django.utils import timezone

from ops.models import Heartbeat, ProcessKind

logger = logging.getLogger(__name__)

DISPATCHER, WORKER = ProcessKind.DISPATCHER.value, ProcessKind.WORKER.value
# How often each kind beats: the dispatcher from its loop (a write per loop would be load for
# nothing), a cluster from its workers' threads.
BEAT_EVERY = {DISPATCHER: timedelta(seconds=5), WORKER: timedelta(seconds=10)}
# Silent for longer than this, a process counts as quiet (a few missed beats).
STALE = timedelta(seconds=30)
# Silent for longer than this, a process is forgotten: it is gone, not quiet.
FORGET_AFTER = timedelta(hours=1)

_last_beat: dict[tuple[str, str, int], float] = {}


def beat(
    kind: str, *, host: str | None = None, pid: int | None = None, now: datetime | None = None, force: bool = False
) -> bool:
    """Record that the process (this one unless `host`/`pid` say otherwise) is alive; throttled
    to one write per BEAT_EVERY unless `force`. A process's first beat forgets long-silent rows."""
    identity = (kind, host or socket.gethostname(), pid or os.getpid())
    moment = time.monotonic()
    first = identity not in _last_beat
    if not force and moment - _last_beat.get(identity, float("-inf")) < BEAT_EVERY[kind].total_seconds():
        return False
    now = now or timezone.now()
    if first:
        Heartbeat.objects.filter(beat_at__lt=now - FORGET_AFTER).delete()
    kind, host, pid = identity
    Heartbeat.objects.bulk_create(
        [Heartbeat(kind=kind, host=host, pid=pid, started_at=now, beat_at=now)],
        update_conflicts=True,
        unique_fields=["kind", "host", "pid"],
        update_fields=["beat_at"],
    )
    _last_beat[identity] = moment
    return True


def stopped(kind: str, *, host: str | None = None, pid: int | None = None) -> None:
    """The process stopped cleanly: remove its row (it is not quiet, it is gone)."""
    host, pid = host or socket.gethostname(), pid or os.getpid()
    Heartbeat.objects.filter(kind=kind, host=host, pid=pid).delete()
    _last_beat.pop((kind, host, pid), None)


def workers_alive(now: datetime | None = None) -> bool:
    """Whether some worker cluster beats (in django-q2's sync mode tasks run in the caller)."""
    if settings.Q_CLUSTER.get("sync"):
        return True
    now = now or timezone.now()
    return Heartbeat.objects.filter(kind=WORKER, beat_at__gte=now - STALE).exists()


class ClusterBeat(threading.Thread):
    """Beats for a worker cluster every `every` seconds until stopped; holds no database
    connection between beats."""

    def __init__(
        self,
        *,
        host: str,
        pid: int,
        every: float = BEAT_EVERY[WORKER].total_seconds(),
        write: Callable[[], object] | None = None,
    ):
        super().__init__(name="relance-cluster-beat", daemon=True)
        self.host, self.pid, self.every = host, pid, every
        self.write = write or (lambda: beat(WORKER, host=host, pid=pid, force=True))
        self.stopping = threading.Event()

    def run(self) -> None:
        from automations.outages import Outage

        outage = Outage(f"worker cluster {self.host}:{self.pid} heartbeat")
        while not self.stopping.is_set():
            try:
                outage.run(self.write)
            except Exception:  # not an outage: say so, and try again at the next beat
                logger.exception("worker cluster %s:%s could not record its heartbeat", self.host, self.pid)
            finally:
                connection.close()
            self.stopping.wait(outage.backoff() if outage.ongoing else self.every)

    def stop(self, *, forget: bool) -> None:
        """Stop beating; with `forget`, the cluster stopped cleanly: remove its row."""
        self.stopping.set()
        self.join(timeout=5)
        if forget:
            try:
                stopped(WORKER, host=self.host, pid=self.pid)
            except Exception:
                logger.exception("worker cluster %s:%s could not remove its heartbeat", self.host, self.pid)
            finally:
                connection.close()


def parent_pid(pid: int) -> int | None:
    """The parent of process `pid` (Linux's /proc), or None."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return int(stat.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


IDLE = -1  # django-q2's worker timer between tasks (worker.py); -2 recycled, 0 timed out


def beat_from_this_worker() -> ClusterBeat:
    """In a django-q2 worker process (parent: the cluster's sentinel, grandparent: its main
    process): beat for the cluster until this worker ends. A worker that ends cleanly while idle
    took the cluster's stop order (forget the row); one recycled or timed out is replaced, and
    its successor beats on. (Workers orphaned by a killed sentinel go on beating: they and the
    pusher go on running tasks.)"""
    sentinel = os.getppid()
    thread = ClusterBeat(host=socket.gethostname(), pid=parent_pid(sentinel) or sentinel)
    thread.start()
    # django-q2 gives the worker its timer as third argument: how it left its loop.
    args = getattr(current_process(), "_args", ())
    timer = args[2] if len(args) > 2 and hasattr(args[2], "value") else None

    def worker_ends() -> None:
        thread.stop(forget=timer is None or timer.value == IDLE)

    # Run when the worker process exits cleanly (multiprocessing runs its finalizers then).
    multiprocessing.util.Finalize(None, worker_ends, exitpriority=10)
    return thread
