"""Events through the official stripe SDK: retrieve, list by type and creation time."""

from datetime import timedelta

import pytest
import stripe

from billing.models import Event, EventType
from tests.api.conftest import API

pytestmark = API


def _customers(stripe_client, count: int) -> list:
    return [stripe_client.v1.customers.create({"email": f"c{n}@example.com"}) for n in range(count)]


def test_it_retrieves_an_event_as_webhooks_carry_it(stripe_client):
    customer = stripe_client.v1.customers.create({"email": "ada@example.com", "metadata": {"plan": "gold"}})
    listed = stripe_client.v1.events.list()
    assert len(listed.data) == 1 and listed.url == "/v1/events"
    event = stripe_client.v1.events.retrieve(listed.data[0].id)
    assert (event.object, event.type, event.livemode) == ("event", "customer.created", False)
    assert event.data.object.id == customer.id and event.data.object.metadata.to_dict() == {"plan": "gold"}
    assert event.to_dict() == Event.objects.get().as_payload()


def test_it_lists_events_by_type_and_by_prefix(stripe_client):
    customer = stripe_client.v1.customers.create({"email": "ada@example.com"})
    stripe_client.v1.customers.update(customer.id, {"name": "Ada"})
    updated = stripe_client.v1.events.list({"type": EventType.CUSTOMER_UPDATED})
    assert [e.type for e in updated.data] == ["customer.updated"]
    assert updated.data[0].data.previous_attributes.name == "ada@example.com"
    assert [e.type for e in stripe_client.v1.events.list({"type": "customer.*"}).data] == [
        "customer.updated",
        "customer.created",
    ]
    both = stripe_client.v1.events.list({"types": ["customer.created", "invoice.paid"]})
    assert [e.type for e in both.data] == ["customer.created"]
    assert stripe_client.v1.events.list({"type": "invoice.paid"}).data == []


def test_it_lists_events_by_creation_time(stripe_client):
    _customers(stripe_client, 3)
    events = list(Event.objects.order_by("created", "id"))
    base = events[0].created.replace(microsecond=0)
    for n, event in enumerate(events):  # one a day apart, as if written on three days
        Event.objects.filter(pk=event.pk).update(created=base + timedelta(days=n))
    first, second, third = (int((base + timedelta(days=n)).timestamp()) for n in range(3))

    def ids(created):
        return [e.created for e in stripe_client.v1.events.list({"created": created}).data]

    assert ids({"gte": second}) == [third, second]
    assert ids({"gt": second}) == [third]
    assert ids({"lte": second}) == [second, first]
    assert ids({"lt": second, "gte": first}) == [first]
    assert ids(third) == [third]


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"created": {"gte": "yesterday"}}, "created[gte]"),
        ({"created": {"after": 1}}, "created[after]"),
        ({"limit": 500}, "limit"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_a_bad_filter_is_refused_with_its_param(stripe_client, params, param):
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.v1.events.list(params)
    assert refused.value.http_status == 400 and refused.value.param == param


def test_a_missing_event_is_resource_missing(stripe_client):
    with pytest.raises(stripe.InvalidRequestError) as missing:
        stripe_client.v1.events.retrieve("evt_nope")
    assert missing.value.http_status == 404 and missing.value.user_message == "No such event: 'evt_nope'"


def test_events_page_with_auto_paging_iter(stripe_client):
    customers = _customers(stripe_client, 12)
    seen = [e.data.object.id for e in stripe_client.v1.events.list({"limit": 5}).auto_paging_iter()]
    assert seen == [c.id for c in reversed(customers)]
