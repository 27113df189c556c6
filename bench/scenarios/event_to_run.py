"""1. Event to run: 20,000 `invoice.overdue` events against 50 enabled automations of that trigger
(an amount and a metadata filter each; most events match the 40th) → runs with 3 steps.

The events come the way production records them: the real overdue sweep
(`billing.jobs.run_overdue`) flags 20,000 due invoices 500 at a time, each batch recording its
events with one insert (`billing.events.record_events`) in its transaction; once a batch commits,
the engine's receiver enqueues one `automations.tasks.handle_events` task per 200 events, and a
real `qcluster` (already running, ORM broker) drains them through the batch path
(`handle_batch`). events/s is from the first event enqueued until all of them are handled (the
sweep runs meanwhile, in this process, on the same machine). In the same run, n no-op tasks
through the same cluster give what django-q2 alone moves per second, and the ratio. Side figures:
the in-process rates of `handle_event` (one by one) and `handle_batch` (200 at a time), no broker.
"""

import time

from bench import engine_data as data
from bench.harness import Result, timed

TARGET = 1000
RATIO_TARGET = 2.5  # events/s ÷ no-op tasks/s of the same run
PER_TASK = 200  # as automations.receivers.EVENTS_PER_TASK


def _handled() -> int:
    from automations.models import HandledEvent

    return HandledEvent.objects.count()


def _drain(label: str, n: int, progress, *, since: float | None = None) -> float:
    """Seconds until progress() reaches n (from `since`, a time.monotonic(), if given)."""
    start = time.monotonic() if since is None else since
    last, last_print = progress(), time.monotonic()
    while (now := progress()) < n:
        time.sleep(0.1)
        if time.monotonic() - last_print > 5:
            print(f"   {label}: {now:,}/{n:,} ({(now - last) / (time.monotonic() - last_print):,.0f}/s)", flush=True)
            last, last_print = now, time.monotonic()
        if time.monotonic() - start > 900:
            print(f"   {label}: gave up after 900 s", flush=True)
            break
    return time.monotonic() - start


def run(ctx) -> list[Result]:
    from automations.engine.handling import handle_batch, handle_event
    from automations.models import Run, RunStep
    from billing import jobs
    from billing.events import events_committed
    from billing.models import Event

    n = 2000 if ctx.quick else 20000
    side = 1000 if ctx.quick else 4000
    data.reset()
    data.overdue_automations(50)
    print(
        f"   {side:,} overdue invoices with their events (side figures), {n:,} due invoices for the sweep …", flush=True
    )
    events = data.make_overdue_events(data.make_invoices(side))
    singles, batched = events[: side // 2], events[side // 2 :]
    data.make_invoices(n, flagged=False)

    with timed() as elapsed:
        for event_id in singles:
            handle_event(event_id)
    single_rate = len(singles) / elapsed()
    print(f"   in process, one by one: {len(singles):,} events in {elapsed():.1f} s ({single_rate:,.0f}/s)", flush=True)
    with timed() as elapsed:
        for start in range(0, len(batched), PER_TASK):
            handle_batch(batched[start : start + PER_TASK])
    batch_rate = len(batched) / elapsed()
    print(f"   in process, batches of {PER_TASK}: {len(batched):,} events in {elapsed():.1f} s ({batch_rate:,.0f}/s)")

    first_enqueued = []

    def _first(sender, events, **kwargs):  # after the engine's receiver (connected first) has enqueued
        if not first_enqueued:
            first_enqueued.append(time.monotonic())

    results = []
    events_committed.connect(_first, sender=Event, dispatch_uid="bench.event_to_run.first")
    try:
        with data.Workers(ctx, dispatcher=False):
            with timed() as sweep_elapsed:
                flagged = jobs.run_overdue()
            sweep_seconds, sweep_end = sweep_elapsed(), time.monotonic()
            print(f"   overdue sweep: {flagged:,} invoices flagged in {sweep_seconds:.1f} s", flush=True)
            seconds = _drain("events", n, lambda: _handled() - side, since=first_enqueued[0])
            rate = n / seconds
            runs = Run.objects.count()
            steps = RunStep.objects.count()
            print(
                f"   qcluster: {n:,} events in {seconds:.1f} s from the first enqueued ({rate:,.0f}/s); "
                f"{runs:,} runs, {steps:,} steps",
                flush=True,
            )
            # Near 0: the workers kept up with the sweep, which set the pace (it shares the cores).
            lag = first_enqueued[0] + seconds - sweep_end
            print(f"   the workers were done {lag:.1f} s after the sweep's last batch", flush=True)

            data.enqueue_all("bench.tasks.noop", [()] * n)
            noop_seconds = _drain("no-op", n, lambda: n - data.queued())
            noop_rate = n / noop_seconds
            print(f"   qcluster: {n:,} no-op tasks in {noop_seconds:.1f} s ({noop_rate:,.0f}/s)", flush=True)
    finally:
        events_committed.disconnect(sender=Event, dispatch_uid="bench.event_to_run.first")

    from django.conf import settings

    q = settings.Q_CLUSTER
    setup = f"ORM broker, {q['workers']} workers, bulk {q.get('bulk', 1)}, {n:,} events"
    note = f"{setup} from the overdue sweep ({settings.BILLING_JOB_BATCH_SIZE}/batch, {PER_TASK}/task); {runs:,} runs"
    results.append(Result("event_to_run", rate, "events/s", TARGET, note=note))
    results.append(Result("event_to_run.q2_noop", noop_rate, "tasks/s", note=setup))
    results.append(Result("event_to_run.ratio", rate / noop_rate, "×", RATIO_TARGET, note="events/s ÷ no-op tasks/s"))
    results.append(
        Result(
            "event_to_run.sweep",
            n / sweep_seconds,
            "invoices/s",
            note=f"run_overdue, in process; the workers done {lag:.1f} s after it",
        )
    )
    results.append(
        Result("event_to_run.in_process", single_rate, "events/s", note=f"{len(singles):,} events, handle_event")
    )
    results.append(
        Result(
            "event_to_run.in_process_batch",
            batch_rate,
            "events/s",
            note=f"{len(batched):,} events, handle_batch({PER_TASK})",
        )  # fmt: skip
    )
    return results
