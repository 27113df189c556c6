"""Billing events reach the engine after their transaction commits, as a django-q2 task."""

from django.dispatch import receiver
from django_q.tasks import async_task

from billing.events import event_committed
from billing.models import Event


@receiver(event_committed, sender=Event, dispatch_uid="automations.handle_event")
def _handle_event(sender, event: Event, **kwargs) -> None:
    async_task("automations.tasks.handle_event", event.pk)
