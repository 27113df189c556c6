"""Redis restart: 1,000 runs × 3 steps (mark the invoice uncollectible, email the team, send a
custom webhook) on a real `qcluster` and dispatcher using the Redis broker, and Redis is killed
mid-run (SIGKILL, as in a crash) and started again, empty, on the same port 2 s later.

The tasks it held are lost with it: steps claimed and handed out, waiting in the broker or
taken by a worker. The step table still says what is due: those steps are taken over once their
lease (10 s here) runs out, and every step runs exactly once, each effect once. The dispatcher
waits the outage out (one line when it begins, one when it ends).

The Redis restarted is a private `redis-server` started by this test on a free port, never the
machine's shared one.
"""

import time

import pytest

from automations.models import Run, RunStep
from tests.faults.conftest import (
    Watch,
    chase_automation,
    check_chase_runs,
    failed_payment_runs,
    finish_sending,
    wait_for,
)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

RUNS = 1000
LEASE = 10  # seconds: the workers' step lease (AUTOMATION_STEP_LEASE_SECONDS)
DOWNTIME = 2  # seconds between Redis's death and its start
STEPS_TASK = "automations.tasks.execute_steps"


def test_a_redis_restart_loses_the_tasks_it_held_but_no_step_and_repeats_none(
    workers, receiver, private_redis, request
):
    began = time.monotonic()
    chase_automation(receiver.url)
    invoices = failed_payment_runs(RUNS)
    assert Run.objects.filter(status="active").count() == RUNS
    started = time.monotonic()
    workers.start(REDIS_URL=private_redis.url, AUTOMATION_STEP_LEASE_SECONDS=str(LEASE))
    watch = Watch(workers, stall=LEASE + 15)

    # Restart while steps are being executed (a third done) and tasks of claimed steps wait in Redis.
    finished = RunStep.objects.exclude(status__in=["pending", "running"])
    assert wait_for(lambda: watch.look() is not None and finished.count() >= RUNS, timeout=120, interval=0.1), (
        workers.log_tail()
    )
    assert wait_for(lambda: private_redis.tasks()[STEPS_TASK] >= 2, timeout=30, interval=0.01), workers.log_tail()
    done_before = finished.count()
    in_broker = private_redis.tasks()
    held = RunStep.objects.filter(status="running").count()  # claimed: in the broker or in a worker
    private_redis.kill()
    time.sleep(DOWNTIME)
    private_redis.start()
    assert not private_redis.tasks()  # nothing survived it
    restarted = time.monotonic() - started

    assert watch.wait(timeout=150).done, list(watch.unfinished.values()) + [workers.log_tail()]
    steps_done = time.monotonic() - started
    watch.check_no_lease_overrun(LEASE, slack=20)
    taken_over = RunStep.objects.filter(attempts__gt=1).count()
    workers.stop_all()
    left = finish_sending()
    repeats = check_chase_runs(invoices, receiver, workers.mail_dir)
    # A billing effect commits with its step's record, in PostgreSQL: Redis has no part in it.
    assert repeats["billing"] == 0, repeats
    # The lost tasks' steps were taken over (claimed again): none ran twice, no message went twice.
    assert taken_over >= in_broker[STEPS_TASK], (taken_over, in_broker)
    assert repeats["email"] == repeats["webhook"] == 0, repeats

    # The dispatcher waited the outage out: one line when it began, one when it ended, no traceback.
    dispatcher_log = "\n".join(p.read_text(errors="replace") for p in workers.logs.glob("dispatcher-*.log"))
    assert dispatcher_log.count("dispatcher: lost the database or broker") == 1, dispatcher_log
    assert dispatcher_log.count("dispatcher: the database and broker are back") == 1, dispatcher_log
    assert "Traceback" not in dispatcher_log, dispatcher_log
    print(
        f"{RUNS} runs made in {started - began:.1f} s; Redis killed after {done_before} of {3 * RUNS} steps done "
        f"({held} claimed; tasks lost with Redis: {dict(in_broker)}), back {restarted:.1f} s in; all steps done after "
        f"{steps_done:.1f} s; steps taken over: {taken_over}; {watch.summary()}; repeats: {repeats}; "
        f"emails/deliveries left to the sweep: {left}"
    )
