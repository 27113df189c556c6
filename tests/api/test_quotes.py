"""Quotes through the official stripe SDK: create, retrieve, list, finalize, accept (which drafts
the invoice), cancel, and the refusals."""

import time

import pytest
import stripe

from tests.api.billing_setup import api_customer, one_off_price
from tests.api.conftest import API

pytestmark = API


def make_quote(client, customer, **params):
    return client.v1.quotes.create(
        {"customer": customer.id, "line_items": [{"price": one_off_price(client, 15000), "quantity": 3}]} | params
    )


def test_it_creates_finalizes_and_accepts_a_quote_into_a_draft_invoice(stripe_client):
    customer = api_customer(stripe_client)
    expires_at = int(time.time()) + 14 * 86400
    quote = make_quote(stripe_client, customer, expires_at=expires_at, description="Onboarding", metadata={"deal": "9"})
    assert quote.id.startswith("qt_") and quote.status == "draft" and quote.amount_total == 45000
    assert quote.expires_at == expires_at and quote.metadata.to_dict() == {"deal": "9"}
    assert quote.line_items.data[0].quantity == 3
    finalized = stripe_client.v1.quotes.finalize_quote(quote.id)
    assert finalized.status == "open" and finalized.number.startswith("QT-")
    accepted = stripe_client.v1.quotes.accept(quote.id)
    assert accepted.status == "accepted"
    invoice = stripe_client.v1.invoices.retrieve(accepted.invoice)
    assert invoice.status == "draft" and invoice.total == 45000 and invoice.billing_reason == "quote_accept"
    assert stripe_client.v1.quotes.retrieve(quote.id).invoice == invoice.id


def test_it_cancels_a_quote_and_refuses_to_accept_it_then(stripe_client):
    quote = make_quote(stripe_client, api_customer(stripe_client))
    canceled = stripe_client.v1.quotes.cancel(quote.id)
    assert canceled.status == "canceled" and canceled.status_transitions.canceled_at is not None
    with pytest.raises(stripe.InvalidRequestError, match="is canceled; it cannot become accepted") as refused:
        stripe_client.v1.quotes.accept(quote.id)
    assert refused.value.http_status == 400


def test_a_draft_quote_cannot_be_accepted(stripe_client):
    quote = make_quote(stripe_client, api_customer(stripe_client))
    with pytest.raises(stripe.InvalidRequestError, match="is draft"):
        stripe_client.v1.quotes.accept(quote.id)


def test_it_lists_quotes_by_customer_and_status(stripe_client):
    ada, grace = api_customer(stripe_client), api_customer(stripe_client, email="grace@example.com")
    first, second = make_quote(stripe_client, ada), make_quote(stripe_client, ada)
    make_quote(stripe_client, grace)
    stripe_client.v1.quotes.finalize_quote(first.id)
    assert [q.id for q in stripe_client.v1.quotes.list({"customer": ada.id}).data] == [second.id, first.id]
    assert [q.id for q in stripe_client.v1.quotes.list({"status": "open"}).data] == [first.id]
    assert len(list(stripe_client.v1.quotes.list({"limit": 2}).auto_paging_iter())) == 3


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"line_items": [{"price": "price_nope"}]}, "line_items[0][price]"),
        ({"line_items": [{"price": "PRICE", "quantity": "0"}]}, "line_items[0][quantity]"),
        ({"line_items": [{"quantity": "2"}]}, "line_items[0][price]"),
        ({"line_items": [{"price": "PRICE"}], "expires_at": "next week"}, "expires_at"),
        ({"line_items": [{"price": "PRICE"}], "expires_at": "99999999999"}, "expires_at"),
        ({}, "line_items"),
        ({"line_items": [{"price": "PRICE", "discounts": "x"}]}, "line_items[0][discounts]"),
    ],
)
def test_it_refuses_a_bad_quote_naming_the_param(stripe_client, params, param):
    customer = api_customer(stripe_client)
    price = one_off_price(stripe_client)
    if "line_items" in params:
        params["line_items"] = [{k: price if v == "PRICE" else v for k, v in i.items()} for i in params["line_items"]]
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.v1.quotes.create({"customer": customer.id} | params)
    assert refused.value.param == param


def test_a_quote_expiring_in_the_past_cannot_be_finalized(stripe_client):
    quote = make_quote(stripe_client, api_customer(stripe_client), expires_at=int(time.time()) - 3600)
    with pytest.raises(stripe.InvalidRequestError, match="expiry date has passed"):
        stripe_client.v1.quotes.finalize_quote(quote.id)
