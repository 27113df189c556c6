"""3. Lateness: steps falling due steadily at 200/s, then at 500/s, for 60 s each, executed by
the normal worker setup (`run_dispatcher` + `qcluster`, ORM broker).

The steps (one per run and invoice, internal actions in turn) are created ahead of time with
`scheduled_at = t0 + i/rate s`; lateness is `executed_at − scheduled_at` of each step.
`executed_at` is recorded when the step's action has finished, so the figure is start-time
lateness plus the action's own duration (an upper bound of the start-time lateness).
Targets: at 200/s p50 ≤ 0.5 s and p99 ≤ 2 s; at 500/s p50 ≤ 0.5 s and p99 ≤ 1 s.
"""

import time
from datetime import timedelta

from django.utils import timezone

from bench import engine_data as data
from bench.harness import Result, percentile

LEVELS = [(200, "lateness", 2.0), (500, "lateness_500", 1.0)]  # (steps/s, result name, p99 target)
LEAD = 15  # seconds between the steps' creation and the first falling due (the bulk insert takes a few)


def _level(ctx, rate: int, name: str, p99_target: float) -> list[Result]:
    from automations.models import RunStep

    seconds = 10 if ctx.quick else 60
    n = rate * seconds
    data.reset()
    automation = data.step_automation()
    print(f"   {rate}/s: {n:,} open invoices …", flush=True)
    invoices = data.make_invoices(n)
    with data.Workers(ctx):
        t0 = timezone.now() + timedelta(seconds=LEAD)
        data.make_due_steps(invoices, lambda i: t0 + timedelta(seconds=i / rate), automation)
        print(f"   {n:,} steps falling due from {t0:%H:%M:%S} at {rate}/s for {seconds} s", flush=True)
        deadline = time.monotonic() + LEAD + seconds + 300
        while (left := data.steps_left()) and time.monotonic() < deadline:
            time.sleep(1)
        if left:
            print(f"   {left:,} steps still not done 300 s after the last one fell due", flush=True)
    rows = RunStep.objects.filter(executed_at__isnull=False).values_list("scheduled_at", "executed_at")
    late = [(done - due).total_seconds() for due, done in rows]
    p50, p99, worst = percentile(late, 50), percentile(late, 99), max(late, default=float("nan"))
    print(f"   {len(late):,} steps executed; lateness p50 {p50:.2f} s, p99 {p99:.2f} s, max {worst:.2f} s", flush=True)
    note = f"{rate}/s for {seconds} s; executed_at − scheduled_at"
    if left:
        note += f"; {left:,} steps never done (not counted)"
    return [
        Result(f"{name}.p50", p50, "s", 0.5, higher_is_better=False, note=note),
        Result(f"{name}.p99", p99, "s", p99_target, higher_is_better=False, note=note),
    ]


def run(ctx) -> list[Result]:
    results = []
    for rate, name, p99_target in LEVELS:
        results += _level(ctx, rate, name, p99_target)
    return results
