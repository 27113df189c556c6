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

The django-q2 wedge (upstream issue #23). A cluster's workers share one `multiprocessing.Queue`
of tasks, filled by the cluster's pusher. A worker waiting for its next task sits in
`Queue.get`, holding the queue's reader lock (a semaphore) while it reads the pipe; killed there
(SIGKILL, OOM), it takes the lock with it. Every other worker, and every worker the sentinel
spawns in its place, then waits for that lock forever: the cluster takes no task again, while
its pusher goes on pulling tasks from the broker into the dead queue and its workers' beat
threads go on beating. So a beat also says whether the cluster makes progress: each worker's beat
thread looks at it every second (`Progress`) and reports how many tasks wait in the queue and
the last moment it saw the worker able to take them; the row keeps the latest such moment of any
worker (`progress_at`). A cluster is *wedged* (`wedged`) when, at a fresh beat, tasks wait and no
worker could take one for WEDGE_AFTER. A supervisor (`manage.py run_worker`, ops/supervisor.py)
restarts its cluster then; /health/ reports it; the dispatcher claims nothing for it.
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
from django.db.models import DateTimeField, F, QuerySet, Value
from django.db.models.functions import Coalesce, Greatest
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
# Tasks waiting in a cluster's queue while none of its workers could take one for this long:
# the cluster is wedged. A worker free for work takes a waiting task within milliseconds; a busy
# one is progress. (A false alarm would cost a cluster restart, nothing more.)
WEDGE_AFTER = timedelta(seconds=15)
# How often a worker's beat thread looks at its worker, and how often it writes while it sees
# the worker unable to take a waiting task (so that a wedge is reported soon after WEDGE_AFTER).
LOOK_EVERY = 1.0
STARVED_BEAT_EVERY = 2.0
# A supervisor (`run_worker`) sets this in its cluster's environment: the cluster's workers beat
# under the supervisor's pid, the process an operator signals, and keep it across restarts.
BEAT_AS_PID = "RELANCE_WORKER_PID"

_last_beat: dict[tuple[str, str, int], float] = {}


def beat(
    kind: str,
    *,
    host: str | None = None,
    pid: int | None = None,
    now: datetime | None = None,
    force: bool = False,
    queued: int | None = None,
    progress_at: datetime | None = None,
) -> bool:
    """Record that the process (this one unless `host`/`pid` say otherwise) is alive; throttled
    to one write per BEAT_EVERY unless `force`. A process's first beat forgets long-silent rows.
    A cluster's worker also says how many tasks wait in the cluster's queue (`queued`) and when
    it last saw its worker able to take them (`progress_at`): the row keeps the latest moment
    any worker reported, since several workers beat for one cluster."""
    identity = (kind, host or socket.gethostname(), pid or os.getpid())
    moment = time.monotonic()
    first = identity not in _last_beat
    if not force and moment - _last_beat.get(identity, float("-inf")) < BEAT_EVERY[kind].total_seconds():
        return False
    now = now or timezone.now()
    if first:
        Heartbeat.objects.filter(beat_at__lt=now - FORGET_AFTER).delete()
    kind, host, pid = identity
    progress = {}
    if progress_at is not None:
        at = Value(progress_at, output_field=DateTimeField())
        progress = {"queued": queued, "progress_at": Greatest(Coalesce("progress_at", at), at)}
    if not progress or not Heartbeat.objects.filter(kind=kind, host=host, pid=pid).update(beat_at=now, **progress):
        Heartbeat.objects.bulk_create(
            [
                Heartbeat(
                    kind=kind, host=host, pid=pid, started_at=now, beat_at=now, queued=queued, progress_at=progress_at
                )
            ],
            update_conflicts=True,
            unique_fields=["kind", "host", "pid"],
            update_fields=["beat_at", "queued", "progress_at"] if progress else ["beat_at"],
        )
    _last_beat[identity] = moment
    return True


def stopped(kind: str, *, host: str | None = None, pid: int | None = None) -> None:
    """The process stopped cleanly: remove its row (it is not quiet, it is gone)."""
    host, pid = host or socket.gethostname(), pid or os.getpid()
    Heartbeat.objects.filter(kind=kind, host=host, pid=pid).delete()
    _last_beat.pop((kind, host, pid), None)


def wedged(now: datetime | None = None) -> QuerySet[Heartbeat]:
    """The worker clusters wedged now: at their last beat (a fresh one) tasks waited in their
    queue, and none of their workers could take one for WEDGE_AFTER or longer."""
    now = now or timezone.now()
    return Heartbeat.objects.filter(
        kind=WORKER, beat_at__gte=now - STALE, queued__gt=0, progress_at__lte=F("beat_at") - WEDGE_AFTER
    )


def is_wedged(row: Heartbeat, now: datetime | None = None) -> bool:
    """`wedged`'s rule for one row already read."""
    now = now or timezone.now()
    return (
        row.kind == WORKER
        and row.beat_at >= now - STALE
        and bool(row.queued)
        and row.progress_at is not None
        and row.progress_at <= row.beat_at - WEDGE_AFTER
    )


def workers_alive(now: datetime | None = None) -> bool:
    """Whether some worker cluster beats and is not wedged (a wedged one would take no step
    handed to it); in django-q2's sync mode tasks run in the caller."""
    if settings.Q_CLUSTER.get("sync"):
        return True
    now = now or timezone.now()
    fresh = Heartbeat.objects.filter(kind=WORKER, beat_at__gte=now - STALE)
    return fresh.exclude(pk__in=wedged(now).values("pk")).exists()


class Progress:
    """What a worker's beat thread sees of its cluster's progress, looking every LOOK_EVERY s.

    At a look the worker is *starved* when it runs no task, tasks wait in the cluster's queue,
    and it has started none since the previous look. `look` gives the tasks waiting and the last
    moment the worker was seen able to take them: now, or when its starved spell began. Workers
    of a wedged cluster all starve (they wait for the queue's lost lock); in a busy one, or an
    idle one, no worker starves for more than a moment."""

    def __init__(self, *, queued: Callable[[], int], started: Callable[[], int], running: Callable[[], bool]):
        self.queued, self.started, self.running = queued, started, running
        self.last_started: int | None = None
        self.starved_since: datetime | None = None

    def look(self, now: datetime) -> tuple[int, datetime]:
        queued, started = self.queued(), self.started()
        starved = queued > 0 and not self.running() and started == self.last_started
        self.last_started = started
        if not starved:
            self.starved_since = None
        elif self.starved_since is None:
            self.starved_since = now
        return queued, self.starved_since or now


# Tasks this worker process started and finished (django-q2's pre_execute and
# post_execute_in_worker signals, connected in ops.apps).
_tasks = {"started": 0, "finished": 0}


def task_started() -> None:
    _tasks["started"] += 1


def task_finished() -> None:
    _tasks["finished"] += 1


def worker_progress(task_queue) -> Progress:
    """This worker process's `Progress`. The queue's size is django-q2's shared counter, read
    without its lock: a worker killed while holding that lock must not stop the beat too."""
    counter = getattr(getattr(task_queue, "size", None), "count", None)

    def queued() -> int:
        return max(0, int(counter.get_obj().value)) if counter is not None else task_queue.qsize()

    return Progress(
        queued=queued,
        started=lambda: _tasks["started"],
        running=lambda: _tasks["started"] > _tasks["finished"],
    )


class ClusterBeat(threading.Thread):
    """Beats for a worker cluster every `every` seconds until stopped (every STARVED_BEAT_EVERY
    while its `progress` shows the worker starved), saying how the cluster progresses; holds no
    database connection between beats."""

    def __init__(
        self,
        *,
        host: str,
        pid: int,
        every: float = BEAT_EVERY[WORKER].total_seconds(),
        progress: Progress | None = None,
        write: Callable[[int | None, datetime | None], object] | None = None,
    ):
        super().__init__(name="relance-cluster-beat", daemon=True)
        self.host, self.pid, self.every, self.progress = host, pid, every, progress
        self.write = write or (
            lambda queued, progress_at: beat(
                WORKER, host=host, pid=pid, force=True, queued=queued, progress_at=progress_at
            )
        )
        self.stopping = threading.Event()

    def run(self) -> None:
        from automations.outages import Outage

        outage = Outage(f"worker cluster {self.host}:{self.pid} heartbeat")
        last_write = float("-inf")
        while not self.stopping.is_set():
            now = timezone.now()
            queued, progress_at = self.progress.look(now) if self.progress else (None, None)
            starved = progress_at is not None and progress_at < now
            due = min(self.every, STARVED_BEAT_EVERY) if starved else self.every
            if time.monotonic() - last_write >= due:
                last_write = time.monotonic()
                try:
                    outage.run(lambda q=queued, at=progress_at: self.write(q, at))
                except Exception:  # not an outage: say so, and try again at the next beat
                    logger.exception("worker cluster %s:%s could not record its heartbeat", self.host, self.pid)
                finally:
                    connection.close()
                if outage.ongoing:
                    self.stopping.wait(outage.backoff())
                    last_write = float("-inf")
                    continue
            self.stopping.wait(min(LOOK_EVERY, self.every))

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
    process): beat for the cluster until this worker ends, under the main process's pid, or its
    supervisor's (BEAT_AS_PID). A worker that ends cleanly while idle took the cluster's stop
    order (forget the row); one recycled or timed out is replaced, and its successor beats on.
    (Workers orphaned by a killed sentinel go on beating: they and the pusher go on running
    tasks.)"""
    sentinel = os.getppid()
    pid = int(os.environ.get(BEAT_AS_PID) or 0) or parent_pid(sentinel) or sentinel
    # django-q2 gives the worker its task queue as first argument, its timer as third: how it
    # left its loop.
    args = getattr(current_process(), "_args", ())
    progress = worker_progress(args[0]) if args and hasattr(args[0], "qsize") else None
    thread = ClusterBeat(host=socket.gethostname(), pid=pid, progress=progress)
    thread.start()
    timer = args[2] if len(args) > 2 and hasattr(args[2], "value") else None

    def worker_ends() -> None:
        thread.stop(forget=timer is None or timer.value == IDLE)

    # Run when the worker process exits cleanly (multiprocessing runs its finalizers then).
    multiprocessing.util.Finalize(None, worker_ends, exitpriority=10)
    return thread
