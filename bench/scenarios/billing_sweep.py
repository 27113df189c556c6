"""Scenario 5, billing sweep: 1,000,000 invoices of which 10,000 just became overdue; the overdue
job, through its normal entry point (the `run_job` task), finishes in ≤ 4 s and its query uses an
index (the plan's first line is printed and kept in the note).

Before each round the 10,000 invoices are put back to "open, just past due, not yet flagged" and
what the previous round made (overdue events, queued tasks) is deleted, so every round does the
same work on the same table. The figure is the median of the rounds.
"""

import statistics

from django.db import connection, transaction

from bench import data
from bench.harness import Context, Result, timed

TARGET_SECONDS = 4.0
ROUNDS = 3


def plan_first_line() -> str:
    """EXPLAIN of the job's claim query (its first batch), as the job sends it."""
    from billing import clock, jobs

    qs = jobs.overdue_batch(clock.now())
    with transaction.atomic():
        plan = qs.explain()
    lines = [line.strip().removeprefix("->  ") for line in plan.splitlines()]
    scan = next((line for line in lines if "Scan" in line), "")
    # The first line is the LIMIT; the scan under it says which index serves the query.
    return f"{lines[0]} / {scan}" if scan and scan != lines[0] else lines[0]


def run(ctx: Context) -> list[Result]:
    from billing.tasks import run_job
    from notifications.models import WebhookEndpoint

    size = data.ensure_dataset(ctx.quick)
    # Measured without webhook subscribers (fan-out is the webhook scenario's): remove any left.
    WebhookEndpoint.objects.all().delete()
    times = []
    plan = ""
    for round_number in range(1, ROUNDS + 1):
        reset = data.sweep_reset(size)
        plan = plan_first_line()
        with timed() as elapsed:
            handled = run_job("overdue")
        times.append(elapsed())
        print(
            f"  round {round_number}: {handled:,} of {reset:,} invoices flagged overdue in {elapsed():.2f} s "
            f"({handled / elapsed():,.0f}/s)",
            flush=True,
        )
    print(f"  plan: {plan}", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM django_q_ormq")
        print(f"  tasks queued for the engine by the last round: {cursor.fetchone()[0]:,}", flush=True)
    return [
        Result(
            "billing_sweep",
            statistics.median(times),
            "s",
            target=TARGET_SECONDS,
            higher_is_better=False,
            note=f"{size.sweep:,} of {size.invoices:,} invoices; plan: {plan}",
        )
    ]
