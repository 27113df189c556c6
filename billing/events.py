"""Recording billing events, and telling subscribers once their transaction has committed."""

from django.db import transaction
from django.dispatch import Signal

from billing import clock
from billing.models import Event
from billing.serializers import snapshot

# Other apps (webhooks, the automation engine) subscribe to these; billing knows nothing
# about them. Both carry `event=<Event>`.
# - event_recorded: inside the transaction that records the event, so what a receiver writes
#   (e.g. webhook deliveries to make) commits or rolls back with the event itself;
# - event_committed: after that transaction commits (for work that must see committed data).
# A batch recorded by `record_events` sends events_recorded and events_committed instead, once
# each for the whole batch (`events=[<Event>, …]`), so that subscribers can do their work per
# batch (one query, one task) rather than per event.
event_recorded = Signal()
event_committed = Signal()
events_recorded = Signal()
events_committed = Signal()


def previous_attributes(before: dict, after: dict) -> dict:
    """The top-level attributes of `before` whose values differ in `after`."""
    return {key: value for key, value in before.items() if after.get(key) != value}


def _event(type: str, obj, before: dict | None) -> Event:
    data = snapshot(obj)
    prev = previous_attributes(before, data) if before is not None and type.endswith(".updated") else None
    customer = obj if obj._meta.model_name == "customer" else getattr(obj, "customer", None)
    return Event(
        type=type,
        created=clock.now(customer=customer),
        object_type=data["object"],
        object_id=obj.public_id,
        customer_id=customer.public_id if customer is not None else "",
        test_clock_id=customer.test_clock_id if customer is not None else None,
        data_object=data,
        previous_attributes=prev,
    )


def _check_atomic() -> None:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("events must be recorded inside the transaction that changes their object")


def record_events(items: list[tuple[str, object]]) -> list[Event]:
    """Record one event per `(type, obj)` in the current transaction, in one insert.

    For jobs that change many objects at once (the overdue sweep): subscribers hear of the batch
    inside the transaction (events_recorded), then once more after commit (events_committed).
    """
    _check_atomic()
    events = Event.objects.bulk_create([_event(type, obj, None) for type, obj in items])
    if events:
        events_recorded.send(sender=Event, events=events)
        transaction.on_commit(lambda: events_committed.send(sender=Event, events=events))
    return events


def record_event(*, type: str, obj, before: dict | None = None) -> Event:
    """Record one event about `obj` in the current transaction.

    `before` is the object's snapshot taken before the change; `*.updated` events carry the
    attributes that changed as `previous_attributes`, like Stripe's.
    """
    _check_atomic()
    event = _event(type, obj, before)
    event.save(force_insert=True)
    event_recorded.send(sender=Event, event=event)
    transaction.on_commit(lambda: event_committed.send(sender=Event, event=event))
    return event
