"""Health of a Relance installation: database, broker, workers and how late the due steps are."""

import os
import socket
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from ops.models import Heartbeat

DISPATCHER, WORKER = "dispatcher", "worker"
# The dispatcher beats at most this often (a write per loop would be load for nothing).
BEAT_EVERY = timedelta(seconds=5)
# Older than this, a process counts as gone: the dispatcher loops every 0.5 s when idle,
# the worker's heartbeat task is scheduled every minute (django-q2 can be 30 s late).
STALE = {DISPATCHER: timedelta(seconds=60), WORKER: timedelta(seconds=180)}
# A due step is overdue when it waits longer than this (one dispatcher loop plus a task pickup).
OVERDUE_AFTER = timedelta(seconds=60)

_last_beat: dict[str, float] = {}


def beat(name: str, *, now: datetime | None = None, force: bool = False) -> bool:
    """Record that `name` is alive (throttled to one write per BEAT_EVERY per process)."""
    moment = time.monotonic()
    if not force and moment - _last_beat.get(name, float("-inf")) < BEAT_EVERY.total_seconds():
        return False
    Heartbeat.objects.update_or_create(
        name=name, defaults={"beat_at": now or timezone.now(), "host": socket.gethostname(), "pid": os.getpid()}
    )
    _last_beat[name] = moment
    return True


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
class Liveness:
    ok: bool
    last_beat: str | None
    age_seconds: float | None
    host: str = ""


def liveness(name: str, now: datetime) -> Liveness:
    row = Heartbeat.objects.filter(name=name).first()
    if row is None:
        return Liveness(False, None, None)
    age = (now - row.beat_at).total_seconds()
    return Liveness(age <= STALE[name].total_seconds(), row.beat_at.isoformat(), round(age, 1), row.host)


@dataclass
class Steps:
    overdue: int
    oldest_overdue_seconds: float | None


def overdue_steps(now: datetime) -> Steps:
    """Pending steps of active runs that should have started more than OVERDUE_AFTER ago."""
    from automations.models import RunStatus, RunStep, StepStatus

    late = RunStep.objects.filter(
        status=StepStatus.PENDING, scheduled_at__lt=now - OVERDUE_AFTER, run__status=RunStatus.ACTIVE
    )
    oldest = late.order_by("scheduled_at").values_list("scheduled_at", flat=True).first()
    return Steps(late.count(), None if oldest is None else round((now - oldest).total_seconds(), 1))


def health_report() -> dict:
    """Everything the health endpoint says; `status` is "ok", "degraded" (workers) or "down" (database, broker)."""
    now = timezone.now()
    database = check_database()
    report: dict = {"database": asdict(database)}
    if not database.ok:
        return {"status": "down", **report}
    broker = check_broker()
    dispatcher, worker = liveness(DISPATCHER, now), liveness(WORKER, now)
    steps = overdue_steps(now)
    report |= {
        "broker": asdict(broker),
        "dispatcher": asdict(dispatcher),
        "worker": asdict(worker),
        "steps": asdict(steps),
    }
    if not broker.ok:
        status = "down"
    elif not (dispatcher.ok and worker.ok) or steps.overdue:
        status = "degraded"
    else:
        status = "ok"
    return {"status": status, "checked_at": now.isoformat(), **report}
