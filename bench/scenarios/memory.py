"""7. Memory: the resident memory (VmRSS from /proc/<pid>/status) of the worker processes — the
`qcluster` processes (main, pusher, monitor, workers) and `run_dispatcher` — sampled every second
while they execute 100,000 due steps of internal actions.

memory.rss_mb is the largest single process at the end; memory.growth_pct compares the sum over
all of them at the end with the sum halfway (django-q2 recycles a worker process after 500 tasks,
so a worker's own growth shows up as a sawtooth, not in the sum).
"""

import time

from django.utils import timezone

from bench import engine_data as data
from bench.harness import Result


def _sample(workers) -> tuple[float, float]:
    rss = [data.rss_mb(pid) for pids in workers.pids().values() for pid in pids]
    return max(rss, default=0.0), sum(rss)


def run(ctx) -> list[Result]:
    n = 5000 if ctx.quick else 100_000
    data.reset()
    automation = data.step_automation()
    print(f"   {n:,} open invoices and due steps …", flush=True)
    invoices = data.make_invoices(n)
    samples = []  # (steps done, largest process MB, all processes MB)
    with data.Workers(ctx) as workers:
        due = timezone.now()
        data.make_due_steps(invoices, lambda i: due, automation)
        start, last_print = time.monotonic(), time.monotonic()
        while (left := data.steps_left()) and time.monotonic() - start < 3600:
            samples.append((n - left, *_sample(workers)))
            if time.monotonic() - last_print > 30:
                print(
                    f"   {n - left:,}/{n:,} steps; largest {samples[-1][1]:.0f} MB, all {samples[-1][2]:.0f} MB",
                    flush=True,
                )
                last_print = time.monotonic()
            time.sleep(1)
        samples.append((n - left, *_sample(workers)))
    done, largest, total = samples[-1]
    halfway = next((s for s in samples if s[0] >= done / 2), samples[0])
    growth = (total - halfway[2]) / halfway[2] * 100 if halfway[2] else float("nan")
    peak = max(s[1] for s in samples)
    print(f"   {done:,} steps; largest process {largest:.0f} MB (peak {peak:.0f}), all {total:.0f} MB "
          f"(halfway {halfway[2]:.0f} MB, {growth:+.1f}%)", flush=True)  # fmt: skip
    note = f"after {done:,} steps; peak {peak:.0f} MB; all processes {total:.0f} MB"
    return [
        Result("memory.rss_mb", largest, "MB", 250, higher_is_better=False, note=note),
        Result(
            "memory.growth_pct",
            growth,
            "%",
            10,
            higher_is_better=False,
            note="sum of the worker processes, end vs halfway",
        ),
    ]
