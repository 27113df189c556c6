"""Subscriptions through the official stripe SDK: create (billing the first period), retrieve,
update (cancellation, pausing, metadata), cancel, list, and the refusals with their param."""

import time

import pytest
import stripe

from tests.api.billing_setup import api_customer, monthly_price
from tests.api.conftest import API

pytestmark = API


def subscribe(client, customer, price, **params):
    return client.v1.subscriptions.create(
        {"customer": customer.id, "items": [{"price": price, "quantity": 2}]} | params
    )


def test_it_creates_a_subscription_and_bills_its_first_period(stripe_client):
    customer = api_customer(stripe_client)
    price = monthly_price(stripe_client, 2000)
    subscription = subscribe(stripe_client, customer, price, metadata={"plan": "pro"})
    assert subscription.id.startswith("sub_")
    assert subscription.status == "active" and subscription.customer == customer.id
    assert subscription.items.data[0].price.id == price and subscription.items.data[0].quantity == 2
    assert subscription.metadata.to_dict() == {"plan": "pro"}
    invoice = stripe_client.v1.invoices.retrieve(subscription.latest_invoice)
    assert invoice.status == "paid" and invoice.amount_paid == 4000 and invoice.subscription == subscription.id
    assert stripe_client.v1.subscriptions.retrieve(subscription.id).latest_invoice == invoice.id


def test_a_subscription_whose_first_charge_is_declined_is_past_due_with_its_invoice_open(stripe_client):
    customer = api_customer(stripe_client, payment_method="pm_card_chargeDeclined")
    subscription = subscribe(stripe_client, customer, monthly_price(stripe_client))
    assert subscription.status == "past_due"
    invoice = stripe_client.v1.invoices.retrieve(subscription.latest_invoice)
    assert invoice.status == "open" and invoice.attempt_count == 1 and invoice.next_payment_attempt is not None


def test_it_creates_a_send_invoice_subscription_canceling_at_period_end(stripe_client):
    customer = api_customer(stripe_client)
    subscription = subscribe(
        stripe_client, customer, monthly_price(stripe_client), collection_method="send_invoice", days_until_due=14,
        cancel_at_period_end=True,
    )  # fmt: skip
    assert subscription.collection_method == "send_invoice" and subscription.days_until_due == 14
    assert subscription.cancel_at_period_end is True
    assert subscription.cancel_at == subscription.current_period_end
    assert stripe_client.v1.invoices.retrieve(subscription.latest_invoice).status == "open"
    assert stripe_client.v1.subscriptions.update(subscription.id, {"days_until_due": 30}).days_until_due == 30


def test_it_merges_metadata_and_an_empty_value_removes_a_key(stripe_client):
    subscription = subscribe(
        stripe_client, api_customer(stripe_client), monthly_price(stripe_client), metadata={"a": "1", "b": "2"}
    )
    updated = stripe_client.v1.subscriptions.update(subscription.id, {"metadata": {"b": "", "c": "3"}})
    assert updated.metadata.to_dict() == {"a": "1", "c": "3"}


def test_it_schedules_and_withdraws_a_cancellation(stripe_client):
    subscription = subscribe(stripe_client, api_customer(stripe_client), monthly_price(stripe_client))
    at = int(time.time()) + 10 * 86400
    scheduled = stripe_client.v1.subscriptions.update(subscription.id, {"cancel_at": at})
    assert scheduled.cancel_at == at and scheduled.cancel_at_period_end is False
    withdrawn = stripe_client.v1.subscriptions.update(subscription.id, {"cancel_at": ""})
    assert withdrawn.cancel_at is None
    at_end = stripe_client.v1.subscriptions.update(subscription.id, {"cancel_at_period_end": True})
    assert at_end.cancel_at_period_end is True and at_end.cancel_at == at_end.current_period_end
    kept = stripe_client.v1.subscriptions.update(subscription.id, {"cancel_at_period_end": False})
    assert kept.cancel_at is None and kept.cancel_at_period_end is False


def test_it_pauses_and_resumes_collection(stripe_client):
    subscription = subscribe(stripe_client, api_customer(stripe_client), monthly_price(stripe_client))
    resumes_at = int(time.time()) + 30 * 86400
    paused = stripe_client.v1.subscriptions.update(
        subscription.id, {"pause_collection": {"behavior": "void", "resumes_at": resumes_at}}
    )
    assert paused.status == "paused"
    assert paused.pause_collection.behavior == "void" and paused.pause_collection.resumes_at == resumes_at
    resumed = stripe_client.v1.subscriptions.update(subscription.id, {"pause_collection": ""})
    assert resumed.status == "active" and resumed.pause_collection is None


def test_it_cancels_a_subscription_once(stripe_client):
    subscription = subscribe(stripe_client, api_customer(stripe_client), monthly_price(stripe_client))
    canceled = stripe_client.v1.subscriptions.cancel(subscription.id)
    assert canceled.status == "canceled" and canceled.canceled_at is not None
    with pytest.raises(stripe.InvalidRequestError, match="already canceled"):
        stripe_client.v1.subscriptions.cancel(subscription.id)
    with pytest.raises(stripe.InvalidRequestError, match="canceled"):
        stripe_client.v1.subscriptions.update(subscription.id, {"cancel_at_period_end": True})


def test_it_lists_subscriptions_by_customer_and_status(stripe_client):
    ada, grace = api_customer(stripe_client), api_customer(stripe_client, email="grace@example.com")
    price = monthly_price(stripe_client)
    first, second = subscribe(stripe_client, ada, price), subscribe(stripe_client, ada, price)
    subscribe(stripe_client, grace, price)
    stripe_client.v1.subscriptions.cancel(first.id)
    listed = stripe_client.v1.subscriptions.list({"customer": ada.id})
    assert [s.id for s in listed.data] == [second.id]  # Stripe's default leaves canceled ones out
    assert [s.id for s in stripe_client.v1.subscriptions.list({"customer": ada.id, "status": "all"}).data] == [
        second.id,
        first.id,
    ]
    assert [s.id for s in stripe_client.v1.subscriptions.list({"status": "canceled"}).data] == [first.id]
    every = list(stripe_client.v1.subscriptions.list({"limit": 1}).auto_paging_iter())
    assert len(every) == 2


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"items": [{"price": "price_nope"}]}, "items[0][price]"),
        ({"items": [{"price": "PRICE", "quantity": "0"}]}, "items[0][quantity]"),
        ({"items": [{"price": "PRICE", "quantity": "many"}]}, "items[0][quantity]"),
        ({"items": []}, "items"),
        ({"items": [{"price": "PRICE"}], "collection_method": "barter"}, "collection_method"),
        ({"items": [{"price": "PRICE"}], "days_until_due": "5"}, "days_until_due"),
        ({"items": [{"price": "PRICE"}], "cancel_at_period_end": "maybe"}, "cancel_at_period_end"),
        ({"items": [{"price": "PRICE"}], "trial_days": "5"}, "trial_days"),
        ({"items": [{"price": "PRICE", "plan": "gold"}]}, "items[0][plan]"),
    ],
)
def test_it_refuses_a_bad_create_naming_the_param(stripe_client, params, param):
    customer = api_customer(stripe_client)
    price = monthly_price(stripe_client)
    if "items" in params:
        params["items"] = [{k: price if v == "PRICE" else v for k, v in item.items()} for item in params["items"]]
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.v1.subscriptions.create({"customer": customer.id} | params)
    assert refused.value.param == param


def test_it_refuses_an_unknown_customer_or_subscription(stripe_client):
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.v1.subscriptions.create(
            {"customer": "cus_nope", "items": [{"price": monthly_price(stripe_client)}]}
        )
    assert refused.value.http_status == 404 and refused.value.code == "resource_missing"
    assert refused.value.param == "customer"
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.v1.subscriptions.retrieve("sub_nope")
    assert refused.value.http_status == 404 and "No such subscription: 'sub_nope'" in str(refused.value)


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"cancel_at": "soon"}, "cancel_at"),
        ({"pause_collection": {"behavior": "forever"}}, "pause_collection[behavior]"),
        ({"pause_collection": {"resumes_at": "1"}}, "pause_collection[behavior]"),
        ({"pause_collection": {"behavior": "void", "resumes_at": "x"}}, "pause_collection[resumes_at]"),
        ({"metadata": "plain"}, "metadata"),
        ({"pause_collection": {"behavior": "void", "until": "1"}}, "pause_collection[until]"),
    ],
)
def test_it_refuses_a_bad_update_naming_the_param(stripe_client, params, param):
    subscription = subscribe(stripe_client, api_customer(stripe_client), monthly_price(stripe_client))
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.v1.subscriptions.update(subscription.id, params)
    assert refused.value.param == param


def test_it_refuses_a_cancellation_in_the_past_with_the_domain_message(stripe_client):
    subscription = subscribe(stripe_client, api_customer(stripe_client), monthly_price(stripe_client))
    with pytest.raises(stripe.InvalidRequestError, match="must be in the future"):
        stripe_client.v1.subscriptions.update(subscription.id, {"cancel_at": int(time.time()) - 60})


def test_a_read_only_key_reads_subscriptions_but_cannot_create_one(stripe_client, restricted_client):
    customer = api_customer(stripe_client)
    subscription = subscribe(stripe_client, customer, monthly_price(stripe_client))
    assert restricted_client.v1.subscriptions.retrieve(subscription.id).id == subscription.id
    with pytest.raises(stripe.PermissionError):
        subscribe(restricted_client, customer, monthly_price(stripe_client))
