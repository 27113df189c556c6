"""Turning events into webhook deliveries: billing events, and the automation webhooks."""

import json
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import timedelta

from django.db import IntegrityError, connection, transaction

from billing import clock
from billing.models import Event
from billing.models.fields import new_public_id
from billing.serializers import snapshot
from notifications import queue
from notifications.event_types import AUTOMATION_EVENT_TYPES
from notifications.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint

RETRY_WINDOW = timedelta(days=3)


_endpoints: ContextVar[dict | None] = ContextVar("endpoints_read_once", default=None)


@contextmanager
def endpoints_read_once():
    """Within it (a worker's batch of steps, a few seconds), the endpoints subscribed to an event
    type are looked up once: an endpoint added meanwhile gets the next batch's events."""
    token = _endpoints.set({})
    try:
        yield
    finally:
        _endpoints.reset(token)


def _subscribed(event_type: str) -> list[WebhookEndpoint]:
    """The enabled endpoints subscribed to `event_type`."""
    memo = _endpoints.get()
    if memo is None:
        return _read_subscribed(event_type)
    if event_type not in memo:
        memo[event_type] = _read_subscribed(event_type)
    return memo[event_type]


def _read_subscribed(event_type: str) -> list[WebhookEndpoint]:
    """Chosen by PostgreSQL (JSON containment)."""
    enabled = WebhookEndpoint.objects.filter(enabled=True)
    if connection.features.supports_json_field_contains:
        return list(enabled.filter(enabled_events__contains=[event_type]))
    return [e for e in enabled if event_type in e.enabled_events]  # SQLite (tests, development)


def queue_deliveries(
    *, event_id: str, event_type: str, payload: dict, endpoints: list[WebhookEndpoint] | None = None
) -> list[WebhookDelivery]:
    """Queue one delivery per enabled endpoint subscribed to `event_type` (once per event id).

    The body is serialised once, so every attempt sends the same bytes. Sending starts after
    the surrounding transaction commits, by one task for all of the event's deliveries.
    """
    endpoints = _subscribed(event_type) if endpoints is None else endpoints
    if not endpoints:
        return []
    body = json.dumps(payload, separators=(",", ":"), sort_keys=False)
    now = clock.now()
    queued = []
    for endpoint in endpoints:
        try:
            with transaction.atomic():
                delivery = WebhookDelivery.objects.create(
                    endpoint=endpoint, event_id=event_id, event_type=event_type, body=body,
                    status=DeliveryStatus.PENDING, next_attempt_at=now, created=now, retry_until=now + RETRY_WINDOW,
                )  # fmt: skip
        except IntegrityError:
            continue  # already queued for this endpoint: a repeat of the same event
        queued.append(delivery)
    if queued:
        queue.enqueue_deliveries([delivery.pk for delivery in queued])
    return queued


def queue_billing_event(event: Event) -> list[WebhookDelivery]:
    if not (endpoints := _subscribed(event.type)):  # most events have no subscriber: no payload to build
        return []
    return queue_deliveries(
        event_id=event.public_id, event_type=event.type, payload=event.as_payload(), endpoints=endpoints
    )


def queue_billing_events(events: list[Event]) -> list[WebhookDelivery]:
    """A batch of billing events (the overdue sweep's): one endpoint lookup per event type, as
    most batches have no subscriber at all."""
    queued = []
    for event_type in {event.type for event in events}:
        if _subscribed(event_type):
            queued += [d for event in events if event.type == event_type for d in queue_billing_event(event)]
    return queued


def webhook_event_emit(*, type: str, obj, data: dict | None = None, event_id: str | None = None) -> str:
    """Send one of the automation webhooks about an invoice, quote or subscription.

    The payload has Stripe's event shape (`data.object` is the object's snapshot; `data` may
    add keys such as a custom event's `label`). Passing the same `event_id` again (e.g. one per
    automation step) queues nothing new. Returns the event id.
    """
    if type not in AUTOMATION_EVENT_TYPES:
        raise ValueError(f"{type!r} is not an automation webhook")
    event_id = event_id or new_public_id("evt")
    payload = {
        "id": event_id,
        "object": "event",
        "type": type,
        "created": int(clock.now().timestamp()),
        "livemode": False,
        "data": {"object": snapshot(obj), **(data or {})},
    }
    with transaction.atomic():
        queue_deliveries(event_id=event_id, event_type=type, payload=payload)
    return event_id
