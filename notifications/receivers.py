"""Billing events become webhook deliveries in the same transaction that records them."""

from django.dispatch import receiver

from billing.events import event_recorded, events_recorded
from billing.models import Event
from notifications.services.events import _subscribed, queue_billing_event


@receiver(event_recorded, sender=Event, dispatch_uid="notifications.queue_billing_event")
def _queue_webhooks(sender, event: Event, **kwargs) -> None:
    queue_billing_event(event)


@receiver(events_recorded, sender=Event, dispatch_uid="notifications.queue_billing_events")
def _queue_webhooks_for_batch(sender, events: list[Event], **kwargs) -> None:
    # One endpoint lookup per event type of the batch: most sweeps have no subscriber at all.
    for event_type in {event.type for event in events}:
        if _subscribed(event_type):
            for event in events:
                if event.type == event_type:
                    queue_billing_event(event)
