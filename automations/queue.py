"""Queueing the engine's django-q2 tasks (`automations.tasks`), named by dotted path.

Callers queue after the commit that recorded the work (the receivers run on billing's
`event_committed`; the dispatcher's claim has committed), so a task is queued at once.
"""

from django_q.tasks import async_task

HANDLE_EVENT = "automations.tasks.handle_event"
HANDLE_EVENTS = "automations.tasks.handle_events"
EXECUTE_STEPS = "automations.tasks.execute_steps"


def enqueue_event(event_id: int) -> None:
    async_task(HANDLE_EVENT, event_id)


def enqueue_events(event_ids: list[int]) -> None:
    """One task for a batch of events (the receivers cut batches to `EVENTS_PER_TASK`)."""
    async_task(HANDLE_EVENTS, event_ids)


def enqueue_steps(step_ids: list[int]) -> None:
    """One task for a batch of claimed steps."""
    async_task(EXECUTE_STEPS, step_ids)
