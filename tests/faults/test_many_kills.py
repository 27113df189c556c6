"""Many kills: 1,000 runs × 3 steps (mark the invoice uncollectible, email the team, send a
custom webhook) on a real `qcluster` and dispatcher, while 50 SIGKILLs land at random moments
as the steps execute: 45 on worker processes at whatever they are doing (but reading or writing
a queue pipe: django-q2's own wedge, `kill_a_worker`), 5 on the dispatcher.

Every step runs exactly once: one billing effect per invoice, one email and one webhook event id
per step. A message reaches the mail backend or the receiver a second time only for an attempt
that a kill cut off between sending it and recording it (at-least-once delivery, same id), never
otherwise. Steps held by a killed worker are taken over once their lease (10 s here) runs out:
none stays `running` much past it.

The runs start from 1,000 first failed payments recorded in one batch (`failed_payment_runs`):
made one by one, through the factories and a payment attempt each, they would cost a minute.
"""

import time
from collections import Counter

import pytest
from django.db.models import Sum

from automations.engine.dispatch import STEPS_PER_TASK
from automations.models import Run, RunStep
from notifications.delivery import CONCURRENCY
from notifications.models import DeliveryAttempt, OutboundEmail, WebhookDelivery
from tests.faults.conftest import (
    Watch,
    chase_automation,
    check_chase_runs,
    failed_payment_runs,
    finish_sending,
    kill,
    kill_a_worker,
    seeded_random,
    wait_for,
)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

RUNS = 1000
KILLS = 50
DISPATCHER_EVERY = 10  # every tenth kill hits the dispatcher instead of a worker
LEASE = 10  # seconds: the workers' step lease (AUTOMATION_STEP_LEASE_SECONDS)
# Seconds a step may stay running past its lease: the dispatcher claims it again at its first tick
# with room in the broker (it claims nothing while the broker holds 4 tasks per worker, and workers
# killed every second drain it slowly), or after its own restart: within about one more lease.
SLACK = 2 * LEASE + 10


def test_fifty_kills_over_a_thousand_runs_lose_no_step_and_run_none_twice(workers, receiver, request):
    rng = seeded_random(request)
    began = time.monotonic()
    chase_automation(receiver.url)
    invoices = failed_payment_runs(RUNS)
    assert Run.objects.filter(status="active").count() == RUNS
    started = time.monotonic()
    workers.start(AUTOMATION_STEP_LEASE_SECONDS=str(LEASE))
    watch = Watch(workers, stall=LEASE + 10)

    # The kills are spread over the steps' progress (one per 1/55 of them, or one every 1.5 s
    # while the steps a killed worker held wait for their lease): every kill lands while steps run.
    kills: Counter = Counter()
    finished = RunStep.objects.exclude(status__in=["pending", "running"])
    for n in range(1, KILLS + 1):
        wait_for(lambda n=n: finished.count() >= n * 3 * RUNS // (KILLS + 5), timeout=1.5, interval=0.05)
        watch.look()
        time.sleep(rng.uniform(0, 0.2))
        if n % DISPATCHER_EVERY == 0:
            dispatcher = workers.dispatchers.pop()
            kills["dispatcher"] += kill(dispatcher.pid)
            dispatcher.wait(timeout=10)
            workers.start_dispatcher(AUTOMATION_STEP_LEASE_SECONDS=str(LEASE))
        else:
            while kill_a_worker(workers.clusters[0], rng) is None:  # every worker was at a queue pipe: soon not
                time.sleep(0.02)
            kills["worker"] += 1
    killed_at, done_when_killed = time.monotonic() - started, finished.count()
    assert sum(kills.values()) == KILLS

    assert watch.wait(timeout=180).done, list(watch.unfinished.values()) + [workers.log_tail()]
    steps_done = time.monotonic() - started
    watch.check_no_lease_overrun(LEASE, slack=SLACK)
    workers.stop_all()
    left = finish_sending()

    repeats = check_chase_runs(invoices, receiver, workers.mail_dir)
    # The billing effect commits with its step's record: a kill undoes both or neither.
    assert repeats["billing"] == 0, repeats
    # Attempts a kill cut off (claimed, never recorded): at most what one worker holds at once per
    # kill (its batch's emails, its claimed deliveries); without a kill there would be none. Sent
    # again: an email only the one a kill caught going out (each is recorded as soon as it is
    # sent), a webhook only those in flight when it landed.
    unrecorded_emails = OutboundEmail.objects.aggregate(n=Sum("attempt_count"))["n"] - OutboundEmail.objects.count()
    recorded = DeliveryAttempt.objects.count()
    unrecorded_deliveries = WebhookDelivery.objects.aggregate(n=Sum("attempt_count"))["n"] - recorded
    assert unrecorded_emails <= kills["worker"] * STEPS_PER_TASK, unrecorded_emails
    assert unrecorded_deliveries <= kills["worker"] * 2 * CONCURRENCY, unrecorded_deliveries
    assert repeats["email"] <= min(unrecorded_emails, kills["worker"]), repeats
    assert repeats["webhook"] <= min(unrecorded_deliveries, kills["worker"] * CONCURRENCY), repeats
    print(
        f"{RUNS} runs made in {started - began:.1f} s; {KILLS} kills ({dict(kills)}) within {killed_at:.1f} s, "
        f"{done_when_killed} of {3 * RUNS} steps done by then; all steps done after {steps_done:.1f} s; checked "
        f"after {time.monotonic() - started:.1f} s; steps taken over after a kill: {repeats['steps_taken_over']}; "
        f"{watch.summary()}; messages sent again after a "
        f"kill cut off their record: {repeats}; unrecorded attempts: emails {unrecorded_emails}, webhooks "
        f"{unrecorded_deliveries}; emails/deliveries left to the sweep: {left}; reincarnated workers: "
        f"{workers.log_count('reincarnated worker')}"
    )
