"""Recording billing events, and telling subscribers once their transaction has committed."""

import json

from django.db import connection, transaction
from django.dispatch import Signal

from billing import clock
from billing.models import Event
from billing.models.fields import new_public_id
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
    events = _insert([_event(type, obj, None) for type, obj in items])
    if events:
        events_recorded.send(sender=Event, events=events)
        transaction.on_commit(lambda: events_committed.send(sender=Event, events=events))
    return events


def _insert(events: list[Event]) -> list[Event]:
    """Insert the events (ids set). On PostgreSQL, one statement with the rows as one JSON
    document: Django's bulk_create spends more on building and quoting 500 snapshots' parameters
    than the server spends inserting them (bench: event_to_run's overdue sweep)."""
    if connection.vendor != "postgresql" or not events:
        return Event.objects.bulk_create(events)
    rows = []
    for event in events:
        event.public_id = event.public_id or new_public_id("evt")  # as PublicIdField on insert
        rows.append(
            [
                event.public_id,
                event.type,
                event.created.isoformat(),
                event.object_type,
                event.object_id,
                event.customer_id,
                event.test_clock_id,
                event.data_object,
                event.previous_attributes,
            ]  # fmt: skip
        )
    with connection.cursor() as cursor:
        cursor.execute(_INSERT, [json.dumps(rows)])
        ids = {public_id: pk for pk, public_id in cursor.fetchall()}
    for event in events:
        event.pk = ids[event.public_id]
        event._state.adding, event._state.db = False, connection.alias
    return events


_INSERT = f"""
INSERT INTO {Event._meta.db_table} (
    public_id, type, created, object_type, object_id, customer_id, test_clock_id, data_object, previous_attributes
)
SELECT e->>0, e->>1, (e->>2)::timestamptz, e->>3, e->>4, e->>5, e->>6, e->7, NULLIF(e->8, 'null'::jsonb)
FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS rows(e, position)
ORDER BY position
RETURNING id, public_id
"""  # noqa: S608 (the table name from the model; the values are a parameter)


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
