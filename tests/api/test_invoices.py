"""Invoices and invoice items through the official stripe SDK: pending items picked up by the
next invoice, items on a draft, the transitions (finalize, pay, void, mark_uncollectible), a
declined payment raising stripe.CardError, updates, lists and refusals."""

import time

import pytest
import stripe

from tests.api.billing_setup import api_customer, monthly_price, one_off_price
from tests.api.conftest import API

pytestmark = API


def draft_invoice(client, customer, amount=1500, **params):
    client.v1.invoice_items.create(
        {"customer": customer.id, "amount": amount, "currency": "eur", "description": "Consulting"}
    )
    return client.v1.invoices.create({"customer": customer.id} | params)


def test_the_next_invoice_picks_up_the_pending_invoice_items(stripe_client):
    customer = api_customer(stripe_client)
    item = stripe_client.v1.invoice_items.create(
        {"customer": customer.id, "amount": 1500, "currency": "eur", "description": "Consulting"}
    )
    assert item.id.startswith("ii_") and item.invoice is None and item.amount == 1500
    priced = stripe_client.v1.invoice_items.create(
        {"customer": customer.id, "price": one_off_price(stripe_client, 15000), "quantity": 2}
    )
    assert priced.amount == 30000 and priced.quantity == 2 and priced.description == "Setup"
    invoice = stripe_client.v1.invoices.create(
        {"customer": customer.id, "description": "March", "metadata": {"po": "7"}}
    )
    assert invoice.status == "draft" and invoice.total == 31500 and invoice.auto_advance is False
    assert [line.amount for line in invoice.lines.data] == [1500, 30000]
    assert stripe_client.v1.invoice_items.retrieve(item.id).invoice == invoice.id
    assert stripe_client.v1.invoice_items.list({"customer": customer.id, "pending": True}).data == []


def test_an_invoice_item_on_a_draft_invoice_becomes_one_of_its_lines(stripe_client):
    customer = api_customer(stripe_client)
    invoice = draft_invoice(stripe_client, customer, amount=1000)
    item = stripe_client.v1.invoice_items.create(
        {"customer": customer.id, "invoice": invoice.id, "amount": 250, "description": "Extra"}
    )
    assert item.invoice == invoice.id and item.currency == "eur"
    invoice = stripe_client.v1.invoices.retrieve(invoice.id)
    assert invoice.total == 1250 and len(invoice.lines.data) == 2
    listed = stripe_client.v1.invoice_items.list({"invoice": invoice.id})
    assert [i.id for i in listed.data][0] == item.id


def test_an_invoice_item_is_refused_on_a_finalized_invoice(stripe_client):
    customer = api_customer(stripe_client)
    invoice = stripe_client.v1.invoices.finalize_invoice(draft_invoice(stripe_client, customer).id)
    with pytest.raises(stripe.InvalidRequestError, match="draft invoices only"):
        stripe_client.v1.invoice_items.create(
            {"customer": customer.id, "invoice": invoice.id, "amount": 250, "description": "Extra"}
        )


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"amount": "ten", "currency": "eur", "description": "x"}, "amount"),
        ({"amount": "-5", "currency": "eur", "description": "x"}, "amount"),
        ({"amount": "500", "currency": "xyz", "description": "x"}, "currency"),
        ({"amount": "500", "currency": "eur"}, "description"),
        ({"price": "price_nope"}, "price"),
        ({"currency": "eur", "description": "x"}, "amount"),
        ({"invoice": "in_nope", "amount": "5", "description": "x"}, "invoice"),
    ],
)
def test_it_refuses_a_bad_invoice_item_naming_the_param(stripe_client, params, param):
    customer = api_customer(stripe_client)
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.v1.invoice_items.create({"customer": customer.id} | params)
    assert refused.value.param == param


def test_an_invoice_without_pending_items_is_refused_with_the_reason(stripe_client):
    customer = api_customer(stripe_client)
    with pytest.raises(stripe.InvalidRequestError, match="no pending invoice items") as refused:
        stripe_client.v1.invoices.create({"customer": customer.id})
    assert refused.value.param == "customer"


def test_it_finalizes_and_pays_an_invoice(stripe_client):
    customer = api_customer(stripe_client)
    invoice = stripe_client.v1.invoices.finalize_invoice(draft_invoice(stripe_client, customer).id)
    assert invoice.status == "open" and invoice.number.startswith("RL-")
    paid = stripe_client.v1.invoices.pay(invoice.id)
    assert paid.status == "paid" and paid.amount_paid == 1500 and paid.paid_out_of_band is False


def test_paying_a_draft_finalizes_it_first(stripe_client):
    paid = stripe_client.v1.invoices.pay(draft_invoice(stripe_client, api_customer(stripe_client)).id)
    assert paid.status == "paid" and paid.status_transitions.finalized_at is not None


@pytest.mark.parametrize(
    ("payment_method", "decline_code"),
    [("pm_card_chargeDeclined", "generic_decline"), ("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds")],
)
def test_a_declined_payment_raises_a_card_error(stripe_client, payment_method, decline_code):
    customer = api_customer(stripe_client, payment_method=payment_method)
    invoice = stripe_client.v1.invoices.finalize_invoice(draft_invoice(stripe_client, customer).id)
    with pytest.raises(stripe.CardError) as declined:
        stripe_client.v1.invoices.pay(invoice.id)
    assert declined.value.http_status == 402 and declined.value.code == "card_declined"
    assert declined.value.error.decline_code == decline_code
    after = stripe_client.v1.invoices.retrieve(invoice.id)
    assert after.status == "open" and after.attempt_count == 1 and after.attempted is True


def test_an_invoice_paid_out_of_band_is_marked_paid(stripe_client):
    customer = api_customer(stripe_client, payment_method="pm_card_chargeDeclined")
    invoice = stripe_client.v1.invoices.finalize_invoice(draft_invoice(stripe_client, customer).id)
    paid = stripe_client.v1.invoices.pay(invoice.id, {"paid_out_of_band": True})
    assert paid.status == "paid" and paid.paid_out_of_band is True


def test_it_voids_and_marks_uncollectible_and_refuses_the_wrong_state(stripe_client):
    customer = api_customer(stripe_client)
    first = stripe_client.v1.invoices.finalize_invoice(draft_invoice(stripe_client, customer).id)
    second = stripe_client.v1.invoices.finalize_invoice(draft_invoice(stripe_client, customer).id)
    assert stripe_client.v1.invoices.void_invoice(first.id).status == "void"
    assert stripe_client.v1.invoices.mark_uncollectible(second.id).status == "uncollectible"
    with pytest.raises(stripe.InvalidRequestError, match="is void; it cannot become paid") as refused:
        stripe_client.v1.invoices.pay(first.id, {"paid_out_of_band": True})
    assert refused.value.http_status == 400
    with pytest.raises(stripe.InvalidRequestError, match="cannot become open"):
        stripe_client.v1.invoices.finalize_invoice(first.id)
    with pytest.raises(stripe.InvalidRequestError, match="only open invoices can be paid"):
        stripe_client.v1.invoices.pay(first.id)


def test_it_updates_an_invoice(stripe_client):
    customer = api_customer(stripe_client)
    invoice = draft_invoice(stripe_client, customer, metadata={"a": "1", "b": "2"})
    due = int(time.time()) + 7 * 86400
    updated = stripe_client.v1.invoices.update(
        invoice.id, {"description": "Retainer", "metadata": {"a": ""}, "due_date": due, "auto_advance": True}
    )
    assert updated.description == "Retainer" and updated.metadata.to_dict() == {"b": "2"}
    assert updated.due_date == due and updated.auto_advance is True
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.v1.invoices.update(invoice.id, {"due_date": "tomorrow"})
    assert refused.value.param == "due_date"


def test_it_lists_invoices_by_customer_status_and_subscription(stripe_client):
    ada, grace = api_customer(stripe_client), api_customer(stripe_client, email="grace@example.com")
    subscription = stripe_client.v1.subscriptions.create(
        {"customer": ada.id, "items": [{"price": monthly_price(stripe_client)}]}
    )
    manual = draft_invoice(stripe_client, ada)
    draft_invoice(stripe_client, grace)
    assert [i.id for i in stripe_client.v1.invoices.list({"customer": ada.id}).data] == [
        manual.id,
        subscription.latest_invoice,
    ]
    assert [i.id for i in stripe_client.v1.invoices.list({"subscription": subscription.id}).data] == [
        subscription.latest_invoice
    ]
    assert len(stripe_client.v1.invoices.list({"status": "draft"}).data) == 2
    assert len(list(stripe_client.v1.invoices.list({"limit": 1}).auto_paging_iter())) == 3
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.v1.invoices.list({"status": "lost"})
    assert refused.value.param == "status"


def test_an_unknown_invoice_is_missing(stripe_client):
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.v1.invoices.pay("in_nope")
    assert refused.value.http_status == 404 and refused.value.code == "resource_missing"
