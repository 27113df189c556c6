"""Queueing the engine's django-q2 tasks (`automations.tasks`), named by dotted path.

Callers queue after the commit that recorded the work (the receivers run on billing's
`event_committed`; the dispatcher's claim has committed), so a task is queued at once, without
waiting for the disk (`notifications.queue.unflushed`).
"""

from django_q.tasks import async_task

from notifications.queue import unflushed

HANDLE_EVENT = "automations.tasks.handle_event"
HANDLE_EVENTS = "automations.tasks.handle_events"
EXECUTE_STEPS = "automations.tasks.execute_steps"
ADVANCE_TEST_CLOCK = "automations.tasks.advance_test_clock"


def enqueue_event(event_id: int) -> None:
    with unflushed():
        async_task(HANDLE_EVENT, event_id)


def enqueue_events(event_ids: list[int]) -> None:
    """One task for a batch of events (the receivers cut batches to `EVENTS_PER_TASK`)."""
    with unflushed():
        async_task(HANDLE_EVENTS, event_ids)


def enqueue_steps(step_ids: list[int]) -> None:
    """One task for a batch of claimed steps."""
    with unflushed():
        async_task(EXECUTE_STEPS, step_ids)


def enqueue_clock_advance(advance_id: int) -> None:
    """The walk of one test clock's advance, on a worker (flushed: no sweep makes up for it)."""
    async_task(ADVANCE_TEST_CLOCK, advance_id)


RUN_BACKTEST = "automations.tasks.run_backtest"


def enqueue_backtest(backtest_id: int) -> None:
    """A large backtest's replay, on a worker (a small one runs in the request)."""
    async_task(RUN_BACKTEST, backtest_id)
