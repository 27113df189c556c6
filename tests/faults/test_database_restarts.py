"""Database restarts: PostgreSQL is restarted three times (stopped, 2 s down, started) under a
real `qcluster` and dispatcher on the ORM broker, while they work through 1,000 chase runs × 3
steps (mark the invoice uncollectible, email the team, send a custom webhook) and, in between,
billing's overdue sweep over 600 late invoices, each the start of a one-step run (void it):

1. while steps are executing;
2. while the overdue sweep runs on a worker (the task its schedule runs, `billing.tasks.run_job`):
   some batches flagged and committed, the rest not; the next run of the sweep (as its next
   minute would) flags the rest;
3. while steps are executing again, the runs the sweep started among them.

Every step runs exactly once and each effect happens once; every late invoice is flagged once,
with one `invoice.overdue`, and voided once by its run (events whose task the outage cut off are
handled by the engine's sweep, a minute later). A step a worker held when its connection went is
taken over once its lease (10 s here) runs out: none stays `running` past it. The dispatcher logs
each outage once and its end once, with no traceback; the cluster's pusher and monitor wait the
outages out in place (none dies and is started again).

The server restarted is a private, throwaway PostgreSQL started for this test (`initdb` and
`pg_ctl` on a free port, TCP only, `private_postgres`), never the machine's shared one.
"""

import time
from collections import Counter

import pytest
from django.db import connection
from django_q.brokers.orm import ORM
from django_q.tasks import async_task

from automations.models import Run, RunStep
from billing.models import Event, Invoice
from tests.faults.conftest import (
    Watch,
    automation,
    chase_automation,
    check_chase_runs,
    failed_payment_runs,
    finish_sending,
    overdue_invoices,
    wait_for,
)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

RUNS = 1000
LATE = 600  # late invoices for the overdue sweep
SWEEP_BATCH = 20  # BILLING_JOB_BATCH_SIZE of the workers: the sweep commits 30 batches
LEASE = 10  # seconds: the workers' step lease (AUTOMATION_STEP_LEASE_SECONDS)
DOWNTIME = 2  # seconds between the server's stop and its start
NOW = {"amount": 0, "unit": "minutes"}


def test_database_restarts_while_steps_and_the_overdue_sweep_run_lose_nothing_and_repeat_nothing(
    private_postgres, workers, receiver
):
    server = private_postgres
    began = time.monotonic()
    server.migrate()
    migrated = time.monotonic() - began
    with server.as_default_database():
        chase = chase_automation(receiver.url)
        voiding = automation("invoice.overdue", [{"action": "void_invoice", "delay": NOW, "params": {}}], "Void late")
        invoices = failed_payment_runs(RUNS)
        late = overdue_invoices(LATE)
        assert Run.objects.filter(status="active").count() == RUNS
        started = time.monotonic()
        env = {"DATABASE_URL": server.url, "AUTOMATION_STEP_LEASE_SECONDS": str(LEASE)}
        workers.start(**env, BILLING_JOB_BATCH_SIZE=str(SWEEP_BATCH))
        watch = Watch(workers, stall=LEASE + 30)  # after an outage, django-q2's pusher sleeps 10 s
        finished = RunStep.objects.exclude(status__in=["pending", "running"])
        flagged = Invoice.objects.filter(overdue_at__isnull=False)
        restarts = []

        def restart(moment: str) -> None:
            held = RunStep.objects.filter(status="running").count()
            connection.close()
            server.stop()
            time.sleep(DOWNTIME)
            server.start()
            restarts.append(f"{moment} at {time.monotonic() - started:.1f} s ({held} steps held)")

        def steps_done(count: int) -> bool:
            watch.look()  # late leases are looked at between the restarts too
            return finished.count() >= count

        # 1. While steps are executing.
        assert wait_for(lambda: steps_done(600), timeout=120, interval=0.1), workers.log_tail()
        restart(f"after {finished.count()} steps")

        # 2. While the overdue sweep runs on a worker: after its first batches, before its last.
        sweep = ORM()  # the workers' broker (this process may be configured for Redis)
        async_task("billing.tasks.run_job", "overdue", sync=False, broker=sweep)
        assert wait_for(flagged.exists, timeout=60, interval=0.01), workers.log_tail()
        cut = flagged.count()
        restart(f"in the sweep, {cut} of {LATE} late invoices flagged")
        assert cut < LATE, "the sweep ended before the restart: more late invoices, or smaller batches"
        async_task("billing.tasks.run_job", "overdue", sync=False, broker=sweep)  # its next minute
        assert wait_for(lambda: flagged.count() == LATE, timeout=60, interval=0.2), workers.log_tail()

        # 3. While steps are executing again.
        assert wait_for(lambda: steps_done(2200), timeout=120, interval=0.1), workers.log_tail()
        restart(f"after {finished.count()} steps")

        every_run = Run.objects.all()
        assert watch.wait(finished=lambda: every_run.count() == RUNS + LATE, timeout=200).done, (
            f"{every_run.count()} runs; unfinished: {list(watch.unfinished.values())}\n{workers.log_tail()}"
        )
        all_done = time.monotonic() - started
        watch.check_no_lease_overrun(LEASE, slack=20)
        workers.stop_all()
        left = finish_sending()

        # The chase runs: every step once, each effect once.
        repeats = check_chase_runs(invoices, receiver, workers.mail_dir, automation=chase)
        # A billing effect commits with its step's record: an outage can interrupt both, never one.
        assert repeats["billing"] == 0, repeats
        # The sweep: each late invoice flagged once, and voided once by the run its event started.
        late_ids = {invoice.public_id for invoice in late}
        for kind in ("invoice.overdue", "invoice.voided"):
            events = Counter(Event.objects.filter(type=kind).values_list("object_id", flat=True))
            assert events == Counter(dict.fromkeys(late_ids, 1)), kind
        assert Counter(Invoice.objects.filter(public_id__in=late_ids).values_list("status", flat=True)) == {
            "void": LATE
        }
        voids = RunStep.objects.filter(run__automation=voiding)
        assert Counter(voids.values_list("status", flat=True)) == {"succeeded": LATE}
        assert Counter(Run.objects.filter(automation=voiding).values_list("status", flat=True)) == {"completed": LATE}
        late_runs = Counter(Run.objects.filter(automation=voiding).values_list("event__object_id", flat=True))
        assert late_runs == Counter(dict.fromkeys(late_ids, 1))

    # The dispatcher waited each outage out: one line when it began, one when it ended, no traceback.
    dispatcher_log = "\n".join(p.read_text(errors="replace") for p in workers.logs.glob("dispatcher-*.log"))
    assert dispatcher_log.count("dispatcher: lost the database or broker") == len(restarts), dispatcher_log
    assert dispatcher_log.count("dispatcher: the database and broker are back") == len(restarts), dispatcher_log
    assert "Traceback" not in dispatcher_log, dispatcher_log
    assert dispatcher_log.rstrip().endswith("Automation dispatcher stopped."), dispatcher_log
    qcluster_log = "\n".join(p.read_text(errors="replace") for p in workers.logs.glob("qcluster-*.log"))
    # The cluster's pusher and monitor waited the outages out too (ops.brokers): none died and was
    # reincarnated, and each logged an outage in one line, not a traceback per try.
    assert "reincarnated pusher" not in qcluster_log and "reincarnated monitor" not in qcluster_log, qcluster_log
    assert "Failed to pull task from broker" not in qcluster_log, qcluster_log
    assert "task queue: lost the database or broker" in qcluster_log, qcluster_log
    print(
        f"migrated in {migrated:.1f} s; {RUNS} runs and {LATE} late invoices made in "
        f"{started - began - migrated:.1f} s; restarts: {'; '.join(restarts)}; all steps done after "
        f"{all_done:.1f} s; {watch.summary()}; repeats: {repeats}; emails/deliveries left to the sweep: {left}; "
        f"tracebacks in the cluster's log: {qcluster_log.count('Traceback')}"
    )
