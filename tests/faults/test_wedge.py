"""The django-q2 wedge (upstream #23), healed without a person.

A real `manage.py run_worker` (the supervisor the Procfile and the systemd unit run: a `qcluster`
child, restarted when it wedges) and a real dispatcher run chase runs on PostgreSQL. Workers of
the cluster are SIGKILLed while they wait for their next task, blocked reading the task queue's
pipe: that worker holds the queue's reader lock, and the lock dies with it. Each kill is followed
by new runs; once their steps stop moving, the cluster is wedged. Then /health/ must name the
wedged cluster (by host and the supervisor's pid) and say "degraded", the dispatcher must stop
claiming steps for it, the supervisor must restart it (one log line), and afterwards every run
must finish with each step's effects exactly once (the step table says what is still due).
"""

import contextlib
import os
import signal
import socket
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.urls import reverse

from automations.models import Run, RunStep
from billing import services
from ops.heartbeats import WEDGE_AFTER
from tests.faults.conftest import (
    READ,
    Cluster,
    Workers,
    _children,
    chase_automation,
    check_chase_runs,
    failed_subscription_invoices,
    finish_sending,
    wait_for,
)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

FIRST_RUNS = 8  # before any kill: the cluster works
RUNS_PER_KILL = 6  # after each kill: do their steps move?
MAX_KILLS = 4
TOKEN = "health-token-for-monitoring-0123456789"
HEAL_LINE = "was wedged"


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][0]


def _reading_a_pipe(pid: int) -> bool:
    """The process's main thread is blocked in read() on a pipe: a worker waiting in `Queue.get`
    for its next task, holding the task queue's reader lock."""
    fields = Path(f"/proc/{pid}/syscall").read_text().split()
    if len(fields) < 2 or fields[0] != READ:
        return False
    with contextlib.suppress(OSError):
        return os.readlink(f"/proc/{pid}/fd/{int(fields[1], 16)}").startswith("pipe:")
    return False


def kill_the_lock_holder(cluster: Cluster, timeout: float = 15) -> int | None:
    """SIGKILL the worker that holds the task queue's reader lock (frozen with SIGSTOP while we
    look, so it cannot take a task between look and kill); None if none did within `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pid in cluster.worker_pids():
            try:
                os.kill(pid, signal.SIGSTOP)
                wait_for(lambda p=pid: _state(p) == "T", 2, 0.002)
                if _reading_a_pipe(pid):
                    os.kill(pid, signal.SIGKILL)
                    return pid
                os.kill(pid, signal.SIGCONT)
            except (ProcessLookupError, FileNotFoundError):
                continue
        time.sleep(0.05)
    return None


class Supervised:
    """A `run_worker` process and the `qcluster` it runs now."""

    def __init__(self, workers: Workers):
        env = workers.env | {"Q_WORKERS": "2"}
        self.proc = workers._spawn(["run_worker", "--check-every", "1"], env, "run_worker")
        self.workers = 2
        self.qclusters: set[int] = set()  # every qcluster it started: their groups are cleared at the end

    def cluster(self, timeout: float = 40) -> Cluster:
        """The current qcluster, once its workers, monitor and pusher run."""
        found: list[Cluster] = []

        def ready() -> bool:
            children = _children(self.proc.pid)
            if len(children) != 1:
                return False
            self.qclusters.add(children[0])
            candidate = Cluster(SimpleNamespace(pid=children[0]), workers=self.workers)
            if candidate.ready():
                found.append(candidate)
                return True
            return False

        assert wait_for(ready, timeout=timeout), "run_worker's qcluster did not start"
        return found[-1]

    def clear(self) -> None:
        for pgid in self.qclusters:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)


def unfinished() -> int:
    return RunStep.objects.filter(status__in=["pending", "running"]).count()


def start_runs(invoices: list) -> None:
    for invoice in invoices:  # the card declines: `invoice.payment_failed` starts a run (in this process)
        services.invoice_attempt_payment(invoice=invoice)


def moves(timeout: float) -> bool:
    """Whether some step finishes within `timeout` seconds."""
    before = unfinished()
    return wait_for(lambda: unfinished() < before, timeout=timeout, interval=0.2)


def test_a_cluster_wedged_by_a_killed_worker_is_reported_and_restarted_and_every_step_runs_once(
    workers, receiver, client, settings, request
):
    settings.HEALTH_TOKEN = TOKEN
    chase_automation(receiver.url)
    invoices = failed_subscription_invoices(FIRST_RUNS + MAX_KILLS * RUNS_PER_KILL)
    waves = iter(invoices[FIRST_RUNS + n * RUNS_PER_KILL :][:RUNS_PER_KILL] for n in range(MAX_KILLS))
    started = time.monotonic()
    supervised = Supervised(workers)
    try:
        cluster = supervised.cluster()
        workers.start_dispatcher(Q_WORKERS="2")

        # The cluster works.
        start_runs(invoices[:FIRST_RUNS])
        assert wait_for(lambda: unfinished() == 0, timeout=40), workers.log_tail()
        used = FIRST_RUNS

        # Kill the worker holding the task queue's lock until new steps stop moving.
        kills = 0
        wedged = False
        while not wedged and kills < MAX_KILLS:
            assert wait_for(lambda: unfinished() == 0, timeout=40), workers.log_tail()  # idle: one worker reads
            assert kill_the_lock_holder(cluster) is not None, "no worker was waiting for a task"
            kills += 1
            start_runs(next(waves))
            used += RUNS_PER_KILL
            wedged = not moves(timeout=6)
        assert wedged, f"the cluster still took tasks after {kills} kills"
        wedged_at = time.monotonic()

        # /health/ names it (by the supervisor's pid, the one an operator signals) and degrades.
        def reported() -> dict | None:
            body = client.get(reverse("health"), HTTP_AUTHORIZATION=f"Bearer {TOKEN}").json()
            return body if body["wedged"] else None

        reports: list[dict] = []
        assert wait_for(lambda: reports.append(reported()) or reports[-1], timeout=WEDGE_AFTER.total_seconds() + 15)
        detected_at = time.monotonic()
        body = reports[-1]
        assert body["status"] == "degraded"
        assert f"worker cluster {socket.gethostname()}:{supervised.proc.pid} is wedged" in body["wedged"][0]
        listed = {p["pid"]: p for p in body["workers"]}
        assert listed[supervised.proc.pid]["wedged"] is True and listed[supervised.proc.pid]["queued"] > 0
        assert client.get(reverse("health"), {"strict": "1"}, HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 503

        # The supervisor restarts it, and says so once.
        assert wait_for(lambda: workers.log_count(HEAL_LINE) == 1, timeout=30), workers.log_tail()
        healed_at = time.monotonic()
        assert supervised.proc.poll() is None
        fresh = supervised.cluster()
        assert fresh.proc.pid != cluster.proc.pid
        assert not os.path.exists(f"/proc/{cluster.proc.pid}")  # the wedged cluster is gone, all of it
        # Meanwhile the dispatcher claimed nothing for the wedged cluster.
        assert workers.log_count("no worker cluster is alive") >= 1

        # Everything finishes: the steps the wedged cluster held are claimed again after their lease.
        assert wait_for(lambda: unfinished() == 0, timeout=45), workers.log_tail()
        done_at = time.monotonic()
        assert Run.objects.count() == used
        assert wait_for(
            lambda: not client.get(reverse("health"), HTTP_AUTHORIZATION=f"Bearer {TOKEN}").json()["wedged"], 10
        )

        # A clean stop of the supervisor stops its cluster gracefully.
        workers.stop_all()
        supervised.proc.send_signal(signal.SIGTERM)
        assert supervised.proc.wait(timeout=40) == 0
        assert workers.log_count("has stopped") >= 1  # django-q2's own clean shutdown line
        assert workers.log_count(HEAL_LINE) == 1

        finish_sending()
        repeats = check_chase_runs(invoices[:used], receiver, workers.mail_dir)
        print(
            f"kills: {kills}; wedged {wedged_at - started:.1f} s after the start; reported by /health/ "
            f"{detected_at - wedged_at:.1f} s later; healed {healed_at - wedged_at:.1f} s after the wedge; "
            f"all {used} runs done {done_at - healed_at:.1f} s after the heal; repeats: {repeats}"
        )
    finally:
        workers.stop_all()
        if supervised.proc.poll() is None:
            supervised.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(Exception):
                supervised.proc.wait(timeout=15)
        supervised.clear()
        workers.stop(supervised.proc)
