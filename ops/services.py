"""Health of a Relance installation: database, broker, workers and how late the due steps are."""

import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from ops.heartbeats import DISPATCHER, FORGET_AFTER, STALE, WORKER, is_wedged
from ops.models import Heartbeat

# A due step is overdue when it waits longer than this (one dispatcher loop plus a task pickup).
OVERDUE_AFTER = timedelta(seconds=60)


@dataclass
class Check:
    ok: bool
    detail: str
    latency_ms: float | None = None


def check_database() -> Check:
    start = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any failure means "down", and the report says why
        return Check(False, f"{type(exc).__name__}: {exc}")
    return Check(True, connection.vendor, round((time.perf_counter() - start) * 1000, 1))


def check_broker() -> Check:
    """Redis answers PING, or (ORM broker) the task queue table is readable; says how many tasks wait."""
    start = time.perf_counter()
    q_cluster = settings.Q_CLUSTER
    try:
        if "redis" in q_cluster:
            import redis

            client = redis.Redis.from_url(q_cluster["redis"], socket_timeout=2, socket_connect_timeout=2)
            client.ping()
            queued = client.llen(f"django_q:{q_cluster['name']}:q")
            detail = f"redis, {queued} queued"
        else:
            from django_q.models import OrmQ

            detail = f"database, {OrmQ.objects.count()} queued"
    except Exception as exc:
        return Check(False, f"{type(exc).__name__}: {exc}")
    return Check(True, detail, round((time.perf_counter() - start) * 1000, 1))


@dataclass
class Process:
    """One dispatcher or worker cluster (`pid`: the cluster's main process, or its supervisor's)
    and its last beat; for a cluster, the tasks waiting in its queue then and how long none of
    its workers could take one (`stalled_seconds`), and whether that makes it wedged."""

    host: str
    pid: int
    started_at: str
    last_beat: str
    age_seconds: float
    ok: bool
    queued: int | None = None
    stalled_seconds: float | None = None
    wedged: bool = False


def processes(now: datetime) -> dict[str, list[Process]]:
    """Every process that beat within FORGET_AFTER, by kind, then host and pid; `ok` if not quiet."""
    listed: dict[str, list[Process]] = {DISPATCHER: [], WORKER: []}
    for row in Heartbeat.objects.filter(beat_at__gte=now - FORGET_AFTER).order_by("host", "pid"):
        stalled = None if row.progress_at is None else round((row.beat_at - row.progress_at).total_seconds(), 1)
        listed.setdefault(row.kind, []).append(
            Process(
                row.host,
                row.pid,
                row.started_at.isoformat(),
                row.beat_at.isoformat(),
                round((now - row.beat_at).total_seconds(), 1),
                row.beat_at >= now - STALE,
                row.queued,
                stalled,
                is_wedged(row, now),
            )  # fmt: skip
        )
    return listed


def wedge_message(process: Process) -> str:
    return (
        f"worker cluster {process.host}:{process.pid} is wedged: {process.queued} tasks wait in its queue and "
        f"none of its workers could take one for {process.stalled_seconds:.0f} s (django-q2 #23); "
        f"its supervisor (manage.py run_worker) restarts it, or restart it yourself"
    )


@dataclass
class Liveness:
    """A summary of one kind: alive if any of its processes is."""

    ok: bool
    alive: int
    last_beat: str | None
    age_seconds: float | None
    host: str = ""


def liveness(of_kind: list[Process]) -> Liveness:
    """A wedged cluster beats but does no work: it does not count as alive."""
    if not of_kind:
        return Liveness(False, 0, None, None)
    freshest = min(of_kind, key=lambda process: process.age_seconds)
    alive = sum(process.ok and not process.wedged for process in of_kind)
    return Liveness(alive > 0, alive, freshest.last_beat, freshest.age_seconds, freshest.host)


@dataclass
class Steps:
    overdue: int
    oldest_overdue_seconds: float | None


def overdue_steps(now: datetime) -> Steps:
    """Steps of active runs that should have started more than OVERDUE_AFTER ago: pending ones
    past their time, and running ones whose lease ran out that long ago (their worker died).
    Their lateness counts from the time they were due. Steps on test clocks run when their clock
    advances: they are never late."""
    from automations.models import RunStatus, RunStep, StepStatus

    late = RunStep.objects.filter(
        Q(status=StepStatus.PENDING, scheduled_at__lt=now - OVERDUE_AFTER)
        | Q(status=StepStatus.RUNNING, claimed_until__lt=now - OVERDUE_AFTER),
        run__status=RunStatus.ACTIVE,
        run__test_clock__isnull=True,
    )
    oldest = late.order_by("scheduled_at").values_list("scheduled_at", flat=True).first()
    return Steps(late.count(), None if oldest is None else round((now - oldest).total_seconds(), 1))


def health_report() -> dict:
    """Everything the health endpoint says; `status` is "ok", "degraded" (no dispatcher or no
    worker cluster alive, one of them quiet, a cluster wedged (`wedged`: a line for each), or
    steps late) or "down" (database, broker)."""
    now = timezone.now()
    database = check_database()
    report: dict = {"database": asdict(database)}
    if not database.ok:
        return {"status": "down", **report}
    broker = check_broker()
    listed = processes(now)
    dispatcher, worker = liveness(listed[DISPATCHER]), liveness(listed[WORKER])
    steps = overdue_steps(now)
    report |= {
        "broker": asdict(broker),
        "dispatcher": asdict(dispatcher),
        "worker": asdict(worker),
        "dispatchers": [asdict(process) for process in listed[DISPATCHER]],
        "workers": [asdict(process) for process in listed[WORKER]],
        "steps": asdict(steps),
        "wedged": [wedge_message(process) for process in listed[WORKER] if process.wedged],
    }
    quiet = any(not process.ok for of_kind in listed.values() for process in of_kind)
    if not broker.ok:
        status = "down"
    elif not (dispatcher.ok and worker.ok) or quiet or report["wedged"] or steps.overdue:
        status = "degraded"
    else:
        status = "ok"
    return {"status": status, "checked_at": now.isoformat(), **report}
