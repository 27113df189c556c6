"""Billing events become webhook deliveries in the same transaction that records them."""

from django.dispatch import receiver

from billing.events import event_recorded, events_recorded
from billing.models import Event
from notifications.services.events import queue_billing_event, queue_billing_events


@receiver(event_recorded, sender=Event, dispatch_uid="notifications.queue_billing_event")
def _queue_webhooks(sender, event: Event, **kwargs) -> None:
    queue_billing_event(event)


@receiver(events_recorded, sender=Event, dispatch_uid="notifications.queue_billing_events")
def _queue_webhooks_for_batch(sender, events: list[Event], **kwargs) -> None:
    queue_billing_events(events)
