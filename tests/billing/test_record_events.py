"""`record_events` (the overdue sweep's batches) stores what `record_event` stores for each object,
in one insert (on PostgreSQL, one statement with the rows as JSON), in the items' order, and tells
subscribers with the saved events."""

from datetime import UTC, datetime

import pytest
from django.db import transaction

from billing.events import events_committed, events_recorded, record_event, record_events
from billing.models import Event
from billing.services.test_clocks import clock_create
from tests.factories import make_customer, make_invoice

pytestmark = pytest.mark.django_db

FIELDS = ["type", "object_type", "object_id", "customer_id", "test_clock_id", "data_object", "previous_attributes"]


def _stored(event_id: int) -> dict:
    return Event.objects.filter(pk=event_id).values(*FIELDS, "created").get()


def test_a_batch_stores_what_single_events_store_in_the_items_order(django_capture_on_commit_callbacks):
    on_clock = make_customer(test_clock=clock_create(name="Rehearsal", frozen_time=datetime(2025, 1, 31, tzinfo=UTC)))
    invoices = [
        make_invoice(amount="12.50", metadata={"note": 'quotes " and \\ backslashes, é'}),
        make_invoice(customer=on_clock),
        make_invoice(currency="USD"),
    ]
    heard = []
    events_recorded.connect(
        lambda sender, events, **kw: heard.append(("recorded", events)), weak=False, dispatch_uid="t1"
    )
    events_committed.connect(lambda sender, events, **kw: heard.append(("committed", events)), weak=False, dispatch_uid="t2")  # fmt: skip
    try:
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            batch = record_events([("invoice.overdue", invoice) for invoice in invoices])
            singles = [record_event(type="invoice.overdue", obj=invoice) for invoice in invoices]
    finally:
        events_recorded.disconnect(sender=None, dispatch_uid="t1")
        events_committed.disconnect(sender=None, dispatch_uid="t2")
    assert [event.pk for event in batch] == sorted(event.pk for event in batch)
    assert [event.object_id for event in batch] == [invoice.public_id for invoice in invoices]
    for event, single in zip(batch, singles, strict=True):
        stored, expected = _stored(event.pk), _stored(single.pk)
        assert {k: stored[k] for k in FIELDS} == {k: expected[k] for k in FIELDS}
        assert stored["created"] == event.created and stored["previous_attributes"] is None
        assert Event.objects.filter(pk=event.pk, previous_attributes__isnull=True).exists()  # SQL NULL, not JSON null
        assert event.public_id.startswith("evt_") and len(event.public_id) == 24
        assert Event.objects.get(public_id=event.public_id).pk == event.pk and not event._state.adding
    assert batch[1].test_clock_id == on_clock.test_clock_id and batch[1].created == datetime(2025, 1, 31, tzinfo=UTC)
    assert [kind for kind, _ in heard] == ["recorded", "committed"]
    assert all(events is batch for _, events in heard)


def test_an_empty_batch_records_nothing():
    with transaction.atomic():
        assert record_events([]) == []
    assert not Event.objects.exists()
