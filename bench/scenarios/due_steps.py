"""2. Due steps: 20,000 due steps of internal actions (team email to the file backend, void
invoice, mark uncollectible; one step per run, one run per open invoice) executed by the normal
worker setup: `run_dispatcher` + `qcluster` (ORM broker).

The steps are committed at once while the workers are already running; steps/s is from that
commit to the last step finished. The emails the team-email steps queue are sent by the same
cluster (their count at the end is printed, not part of the figure). Then as many no-op tasks
go through the same cluster: the target is steps/s ≥ 1.0 × no-op tasks/s (`due_steps.ratio`).
"""

import time

from django.db.models import Count
from django.utils import timezone

from bench import engine_data as data
from bench.harness import Result, timed

TARGET = 500
RATIO_TARGET = 1.0


def run(ctx) -> list[Result]:
    from automations.models import RunStep
    from notifications.models import OutboundEmail

    n = 2000 if ctx.quick else 20000
    data.reset()
    automation = data.step_automation()
    print(f"   {n:,} open invoices …", flush=True)
    invoices = data.make_invoices(n)
    with data.Workers(ctx) as workers:
        due = timezone.now()
        data.make_due_steps(invoices, lambda i: due, automation)
        with timed() as elapsed:
            last, last_at = n, time.monotonic()
            while (left := data.steps_left()) and elapsed() < 900:
                time.sleep(0.2)
                if time.monotonic() - last_at > 5:
                    print(
                        f"   {n - left:,}/{n:,} steps ({(last - left) / (time.monotonic() - last_at):,.0f}/s)",
                        flush=True,
                    )
                    last, last_at = left, time.monotonic()
        seconds = elapsed()
        data.wait_for(lambda: data.queued() == 0, timeout=60)
        pids = workers.pids()
        noop_rate = _noop_rate(n)
    statuses = dict(RunStep.objects.values_list("status").order_by().annotate(n=Count("id")))
    sent = OutboundEmail.objects.filter(status="sent").count()
    rate = (n - left) / seconds
    print(f"   {n - left:,} steps in {seconds:.1f} s ({rate:,.0f}/s); {statuses}; {sent:,} emails sent", flush=True)
    from django.conf import settings

    note = f"{n:,} steps, {settings.Q_CLUSTER['workers']} workers, ORM broker; {len(pids.get('qcluster', []))} qcluster processes"
    return [
        Result("due_steps", rate, "steps/s", TARGET, note=note),
        Result("due_steps.q2_noop", noop_rate, "tasks/s", note=f"{n:,} no-op tasks through the same cluster"),
        Result("due_steps.ratio", rate / noop_rate, "×", RATIO_TARGET, note="steps/s ÷ no-op tasks/s"),
    ]


def _noop_rate(n: int) -> float:
    """No-op tasks per second through the running cluster (the dispatcher has nothing to hand out)."""
    data.enqueue_all("bench.tasks.noop", [()] * n)
    with timed() as elapsed:
        data.wait_for(lambda: data.queued() == 0, timeout=900)
    rate = n / elapsed()
    print(f"   qcluster: {n:,} no-op tasks in {elapsed():.1f} s ({rate:,.0f}/s)", flush=True)
    return rate
