"""Billing events reach the engine after their transaction commits, as django-q2 tasks: one per
event, or one per EVENTS_PER_TASK events of a batch (`billing.events.record_events`), or, for the
events a batch of steps causes, one per batch (`events_in_one_task`)."""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.dispatch import receiver

from automations import queue
from billing.events import event_committed, events_committed
from billing.models import Event

EVENTS_PER_TASK = 200

_collected: ContextVar[list[int] | None] = ContextVar("automations_collected_events", default=None)


def _enqueue(ids: list[int]) -> None:
    for start in range(0, len(ids), EVENTS_PER_TASK):
        queue.enqueue_events(ids[start : start + EVENTS_PER_TASK])


@contextmanager
def events_in_one_task() -> Iterator[None]:
    """Hand the events committed inside the block to the engine together when it ends.

    For a worker running a batch of steps: a void or a memo records an event each, and a task
    per event would crowd the broker (and the dispatcher, which waits for room there, would stop
    handing out steps). If the worker dies before the end, the engine's sweep handles them.
    """
    ids: list[int] = []
    token = _collected.set(ids)
    try:
        yield
    finally:
        _collected.reset(token)
        if ids:
            _enqueue(ids)


@receiver(event_committed, sender=Event, dispatch_uid="automations.handle_event")
def _handle_event(sender, event: Event, **kwargs) -> None:
    collected = _collected.get()
    if collected is not None:
        collected.append(event.pk)
        return
    queue.enqueue_event(event.pk)


@receiver(events_committed, sender=Event, dispatch_uid="automations.handle_events")
def _handle_events(sender, events: list[Event], **kwargs) -> None:
    ids = [event.pk for event in events]
    collected = _collected.get()
    if collected is not None:
        collected.extend(ids)
        return
    _enqueue(ids)


@contextmanager
def receivers_paused() -> Iterator[None]:
    """Send no committed event to the engine's workers while the block runs (for a caller that
    handles the events itself, such as the demo's history through `clockwork.run_due`).

    Events committed elsewhere meanwhile are left to the engine's sweep.
    """
    single = event_committed.disconnect(sender=Event, dispatch_uid="automations.handle_event")
    batch = events_committed.disconnect(sender=Event, dispatch_uid="automations.handle_events")
    try:
        yield
    finally:
        if single:
            event_committed.connect(_handle_event, sender=Event, dispatch_uid="automations.handle_event")
        if batch:
            events_committed.connect(_handle_events, sender=Event, dispatch_uid="automations.handle_events")
