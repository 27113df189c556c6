"""With a real `qcluster` and the dispatcher as separate processes on PostgreSQL, a run executes
every step once, in order; a step claimed by a worker that died is done once after its lease."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from automations.engine.dispatch import claim_due
from automations.models import Run, RunStep
from billing import jobs
from billing.models import AccountSettings
from notifications.models import OutboundEmail
from tests.automations.test_engine import automation
from tests.factories import make_invoice

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


def _memo(text: str) -> dict:
    params = {"recipient": "collections@relance.example", "message": text}
    return {"action": "send_team_email", "delay": {"amount": 0, "unit": "minutes"}, "params": params}


@pytest.fixture
def workers(tmp_path):
    """qcluster + run_dispatcher on the test database (ORM broker), stopped by SIGTERM to their main process."""
    db = connection.settings_dict
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL"}}
    env |= {
        "DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "1",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend", "EMAIL_FILE_PATH": str(tmp_path / "mail"),
        "AUTOMATION_STEP_LEASE_SECONDS": "4", "Q_WORKERS": "2",
    }  # fmt: skip
    procs = []

    def start() -> list[subprocess.Popen]:
        for command in (["qcluster"], ["run_dispatcher", "--interval", "0.2"]):
            procs.append(
                subprocess.Popen(
                    [sys.executable, "manage.py", *command],
                    cwd=ROOT,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    start_new_session=True,
                )  # fmt: skip
            )
        return procs

    yield start
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=30)
        # Workers orphaned by a killed cluster process may linger: clear the whole session.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    _wait_for(lambda: not _sessions_left(connection.settings_dict["NAME"]), timeout=10)


def _sessions_left(database: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [database]
        )
        return cursor.fetchone()[0] > 0


def _wait_for(condition, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def _start_run(steps):
    account = AccountSettings.load()
    account.team_email_domains = ["relance.example"]
    account.save()
    automation("invoice.overdue", steps)
    invoice = make_invoice(due_date=timezone.now() - timedelta(days=1))
    jobs.run_overdue()  # committed: the engine handles the event (sync mode in this process)
    return invoice, Run.objects.get()


def test_a_run_executes_every_step_once_in_order_on_real_workers(workers):
    invoice, run = _start_run([_memo("first"), _memo("second"), {"action": "void_invoice", "delay": {"amount": 0, "unit": "minutes"}, "params": {}}])  # fmt: skip
    workers()
    assert _wait_for(lambda: Run.objects.get(pk=run.pk).status == "completed"), list(run.steps.values())
    steps = list(run.steps.order_by("position"))
    assert [s.status for s in steps] == ["succeeded"] * 3
    assert [s.attempts for s in steps] == [1, 1, 1]
    assert steps[0].executed_at <= steps[1].executed_at <= steps[2].executed_at
    invoice.refresh_from_db()
    assert invoice.status == "void"
    assert OutboundEmail.objects.count() == 2
    assert _wait_for(lambda: OutboundEmail.objects.filter(status="sent").count() == 2)


def test_a_step_whose_worker_died_after_claiming_it_is_done_once_by_the_cluster(workers, settings):
    _, run = _start_run([_memo("only once")])
    settings.AUTOMATION_STEP_LEASE_SECONDS = 4  # the claim below, like the workers', lasts 4 s
    [step_id] = claim_due()  # this "worker" claims the step … and dies without executing it
    workers()
    time.sleep(2)
    assert RunStep.objects.get(pk=step_id).status == "running"  # held by the dead claim until its lease ends
    assert _wait_for(lambda: Run.objects.get(pk=run.pk).status == "completed", timeout=60)
    step = RunStep.objects.get(pk=step_id)
    assert step.status == "succeeded" and step.attempts == 2
    assert OutboundEmail.objects.count() == 1


# Worker kills under load are tests/faults/test_many_kills.py's: it kills worker processes, not the
# cluster's sentinel, and never while one holds a queue pipe (django-q2 #23).


def test_a_real_worker_walks_a_test_clocks_advance_and_the_dispatcher_leaves_its_steps_alone(workers, settings):
    from automations.services.test_clocks import advance_clock
    from billing import services
    from billing.models import TestClock as Clock
    from billing.services.test_clocks import clock_create
    from tests.factories import make_price

    # The clock's steps are long "due" in real time.
    start = (timezone.now() - timedelta(days=400)).replace(microsecond=0)
    account = AccountSettings.load()
    account.team_email_domains = ["relance.example"]
    account.save()
    automation("subscription.payment_failed", [{**_memo("failed"), "delay": {"amount": 2, "unit": "days"}}])
    test_clock = clock_create(name="Rehearsal", frozen_time=start)
    customer = services.customer_create(
        name="Clocked", email="c@example.com", default_payment_method="4000000000000002", test_clock=test_clock
    )
    services.subscription_create(customer=customer, items=[(make_price("10.00", interval="month"), 1)])
    run = Run.objects.get()  # handled here, at the clock's time (sync mode in this process)
    assert run.test_clock_id == test_clock.public_id and run.started_at == start
    workers()
    time.sleep(3)  # the dispatcher loops every 0.2 s: a real-time claim would have taken the step by now
    assert RunStep.objects.get().status == "pending"

    advance_clock(test_clock=test_clock, to=start + timedelta(days=3))  # committed: queued on the ORM broker
    assert _wait_for(lambda: Clock.objects.get(pk=test_clock.pk).status == "ready", timeout=60)
    step = RunStep.objects.get()
    assert step.status == "succeeded" and step.executed_at == start + timedelta(days=2)
    email = OutboundEmail.objects.get()
    assert email.status == "simulated" and email.sent_at is None
