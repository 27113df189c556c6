"""1. Event to run: 20,000 `invoice.overdue` events against 50 enabled automations of that trigger
(an amount and a metadata filter each; most events match the 40th) → runs with 3 steps.

The events' `handle_event` tasks are enqueued at once (as the receiver would, one per event) and a
real `qcluster` drains them through the ORM broker: events/s is from that commit to the last event
handled. In the same run, as many no-op tasks through the same cluster give what django-q2 alone
moves per second, and the ratio. A side figure is the in-process rate of `handle_event` (no broker).
"""

import time

from bench import engine_data as data
from bench.harness import Result, timed

TARGET = 1000


def _handled() -> int:
    from automations.models import HandledEvent

    return HandledEvent.objects.count()


def _drain(label: str, n: int, done) -> float:
    with timed() as elapsed:
        last, last_print = 0, time.monotonic()
        while not done():
            time.sleep(0.1)
            if time.monotonic() - last_print > 5:
                now = n - data.queued()
                print(
                    f"   {label}: {now:,}/{n:,} ({(now - last) / (time.monotonic() - last_print):,.0f}/s)", flush=True
                )
                last, last_print = now, time.monotonic()
            if elapsed() > 900:
                print(f"   {label}: gave up after 900 s", flush=True)
                break
    return elapsed()


def run(ctx) -> list[Result]:
    from automations.engine.handling import handle_event
    from automations.models import Run, RunStep

    n = 2000 if ctx.quick else 20000
    side = 500 if ctx.quick else 2000
    data.reset()
    data.overdue_automations(50)
    print(f"   {n + side:,} open invoices and their invoice.overdue events …", flush=True)
    events = data.make_overdue_events(data.make_invoices(n + side))
    in_process, events = events[:side], events[side:]

    with timed() as elapsed:
        for event_id in in_process:
            handle_event(event_id)
    in_process_rate = side / elapsed()
    print(f"   in process: {side:,} events in {elapsed():.1f} s ({in_process_rate:,.0f}/s)", flush=True)

    results = []
    with data.Workers(ctx, dispatcher=False):
        data.enqueue_all("automations.tasks.handle_event", [(e,) for e in events])
        seconds = _drain("events", n, lambda: data.queued() == 0 and _handled() >= n + side)
        rate = n / seconds
        runs = Run.objects.count()
        steps = RunStep.objects.count()
        print(
            f"   qcluster: {n:,} events in {seconds:.1f} s ({rate:,.0f}/s); {runs:,} runs, {steps:,} steps", flush=True
        )

        data.enqueue_all("bench.tasks.noop", [()] * n)
        noop_seconds = _drain("no-op", n, lambda: data.queued() == 0)
        noop_rate = n / noop_seconds
        print(f"   qcluster: {n:,} no-op tasks in {noop_seconds:.1f} s ({noop_rate:,.0f}/s)", flush=True)

    from django.conf import settings

    q = settings.Q_CLUSTER
    setup = f"ORM broker, {q['workers']} workers, bulk {q.get('bulk', 1)}, {n:,} events"
    results.append(Result("event_to_run", rate, "events/s", TARGET, note=f"{setup}; {runs:,} runs"))
    results.append(Result("event_to_run.q2_noop", noop_rate, "tasks/s", note=setup))
    results.append(Result("event_to_run.ratio", rate / noop_rate, "×", note="events/s ÷ no-op tasks/s"))
    results.append(Result("event_to_run.in_process", in_process_rate, "events/s", note=f"{side:,} events, one process"))
    return results
