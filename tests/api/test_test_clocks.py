"""Test clocks through the official stripe SDK: create, retrieve, list, delete, and a test clock
advanced through a renewal (a customer on the clock, a monthly subscription, the renewal invoice
appearing, with the invoice item that waited for it)."""

from datetime import UTC, datetime

import pytest
import stripe

from tests.api.billing_setup import api_customer, monthly_price
from tests.api.conftest import API

pytestmark = API

START = int(datetime(2026, 1, 15, 9, 0, tzinfo=UTC).timestamp())
DAY = 86400


def test_it_creates_retrieves_lists_and_deletes_a_clock(stripe_client):
    clock = stripe_client.v1.test_helpers.test_clocks.create({"frozen_time": START, "name": "Rehearsal"})
    assert clock.id.startswith("clock_") and clock.object == "test_helpers.test_clock"
    assert clock.name == "Rehearsal" and clock.frozen_time == START and clock.status == "ready"
    assert stripe_client.v1.test_helpers.test_clocks.retrieve(clock.id).frozen_time == START
    assert [c.id for c in stripe_client.v1.test_helpers.test_clocks.list().data] == [clock.id]
    deleted = stripe_client.v1.test_helpers.test_clocks.delete(clock.id)
    assert deleted.deleted is True and deleted.id == clock.id
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.v1.test_helpers.test_clocks.retrieve(clock.id)
    assert refused.value.http_status == 404


def test_a_test_clock_advanced_through_a_renewal(stripe_client):
    clock = stripe_client.v1.test_helpers.test_clocks.create({"frozen_time": START, "name": "Renewal"})
    customer = api_customer(stripe_client, test_clock=clock.id)
    assert customer.test_clock == clock.id and customer.created == START
    subscription = stripe_client.v1.subscriptions.create(
        {"customer": customer.id, "items": [{"price": monthly_price(stripe_client, 2000)}]}
    )
    assert subscription.current_period_start == START
    first = subscription.latest_invoice
    stripe_client.v1.invoice_items.create(
        {"customer": customer.id, "amount": 500, "currency": "eur", "description": "Overage"}
    )

    advanced = stripe_client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": START + 35 * DAY})
    assert advanced.status in ("advancing", "ready")
    clock = stripe_client.v1.test_helpers.test_clocks.retrieve(clock.id)  # tests run the worker at once
    assert clock.status == "ready" and clock.frozen_time == START + 35 * DAY

    renewed = stripe_client.v1.subscriptions.retrieve(subscription.id)
    assert renewed.current_period_start == subscription.current_period_end
    assert renewed.latest_invoice != first
    invoices = stripe_client.v1.invoices.list({"subscription": subscription.id}).data
    assert [i.billing_reason for i in invoices] == ["subscription_cycle", "subscription_create"]
    renewal = invoices[0]
    assert renewal.id == renewed.latest_invoice and renewal.status == "paid" and renewal.test_clock == clock.id
    assert renewal.total == 2500  # the period and the invoice item that waited for it
    assert renewal.created == subscription.current_period_end


@pytest.mark.parametrize(
    ("params", "param"),
    [({"frozen_time": "noon"}, "frozen_time"), ({"name": "x"}, "frozen_time"), ({"frozen_time": "-1"}, "frozen_time")],
)
def test_it_refuses_a_bad_clock_naming_the_param(stripe_client, params, param):
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.v1.test_helpers.test_clocks.create(params)
    assert refused.value.param == param


def test_an_advance_backwards_or_too_far_is_refused_with_the_reason(stripe_client):
    clock = stripe_client.v1.test_helpers.test_clocks.create({"frozen_time": START, "name": "Limits"})
    with pytest.raises(stripe.InvalidRequestError, match="only moves forward"):
        stripe_client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": START - DAY})
    with pytest.raises(stripe.InvalidRequestError, match="at most 2 intervals"):
        stripe_client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": START + 3 * 366 * DAY})
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.v1.test_helpers.test_clocks.advance(clock.id, {})
    assert refused.value.param == "frozen_time"
