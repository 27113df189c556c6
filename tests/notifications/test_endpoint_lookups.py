"""Within a worker's batch of steps (endpoints_read_once), the webhook endpoints subscribed to an
event type are read once; outside it, every time."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from notifications.models import WebhookDelivery, WebhookEndpoint
from notifications.services.events import _subscribed, endpoints_read_once, queue_deliveries

pytestmark = pytest.mark.django_db


def _endpoint(*events: str, enabled: bool = True) -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(
        url="https://hooks.example/relance", enabled_events=list(events), enabled=enabled, secret="whsec_test"
    )


def _endpoint_reads(queries) -> int:
    return sum('FROM "notifications_webhookendpoint"' in query["sql"] for query in queries)


def test_within_a_batch_the_endpoints_of_an_event_type_are_read_once(django_assert_num_queries):
    paid = _endpoint("invoice.paid")
    both = _endpoint("invoice.paid", "invoice.voided")
    _endpoint("invoice.paid", enabled=False)
    with endpoints_read_once(), django_assert_num_queries(3):  # one per event type
        first, again = _subscribed("invoice.paid"), _subscribed("invoice.paid")
        voided, voided_again = _subscribed("invoice.voided"), _subscribed("invoice.voided")
        nobody, nobody_again = _subscribed("quote.accepted"), _subscribed("quote.accepted")
    assert {e.pk for e in first} == {e.pk for e in again} == {paid.pk, both.pk}
    assert [e.pk for e in voided] == [e.pk for e in voided_again] == [both.pk]
    assert nobody == nobody_again == []


def test_outside_a_batch_the_endpoints_are_read_every_time(django_assert_num_queries):
    paid = _endpoint("invoice.paid")
    with django_assert_num_queries(2):
        first, again = _subscribed("invoice.paid"), _subscribed("invoice.paid")
    assert [e.pk for e in first] == [e.pk for e in again] == [paid.pk]


def test_an_endpoint_added_during_a_batch_gets_the_next_batchs_events():
    early = _endpoint("invoice.paid")
    with endpoints_read_once():
        assert _subscribed("invoice.paid") == [early]
        late = _endpoint("invoice.paid")
        assert _subscribed("invoice.paid") == [early]
    with endpoints_read_once():
        assert {e.pk for e in _subscribed("invoice.paid")} == {early.pk, late.pk}
    assert {e.pk for e in _subscribed("invoice.paid")} == {early.pk, late.pk}


def test_events_of_one_type_queued_in_a_batch_reach_every_endpoint_with_one_endpoint_read():
    endpoints = {_endpoint("invoice.will_be_due").pk, _endpoint("invoice.will_be_due").pk}
    with endpoints_read_once(), CaptureQueriesContext(connection) as queries:
        for n in range(3):
            queue_deliveries(event_id=f"evt_{n}", event_type="invoice.will_be_due", payload={"id": f"evt_{n}"})
    assert _endpoint_reads(queries.captured_queries) == 1
    queued = set(WebhookDelivery.objects.values_list("event_id", "endpoint_id"))
    assert queued == {(f"evt_{n}", pk) for n in range(3) for pk in endpoints}
