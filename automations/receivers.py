"""Billing events reach the engine after their transaction commits, as django-q2 tasks: one per
event, or one per EVENTS_PER_TASK events of a batch (`billing.events.record_events`)."""

from django.dispatch import receiver
from django_q.tasks import async_task

from billing.events import event_committed, events_committed
from billing.models import Event


@receiver(event_committed, sender=Event, dispatch_uid="automations.handle_event")
def _handle_event(sender, event: Event, **kwargs) -> None:
    async_task("automations.tasks.handle_event", event.pk)


EVENTS_PER_TASK = 200


@receiver(events_committed, sender=Event, dispatch_uid="automations.handle_events")
def _handle_events(sender, events: list[Event], **kwargs) -> None:
    ids = [event.pk for event in events]
    for start in range(0, len(ids), EVENTS_PER_TASK):
        async_task("automations.tasks.handle_events", ids[start : start + EVENTS_PER_TASK])
