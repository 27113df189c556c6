"""The API's conventions, through the official stripe SDK: keys, errors, lists, idempotency, rate limit."""

import pytest
import stripe

from tests.api.conftest import API

pytestmark = API


def test_it_refuses_an_unknown_key_with_an_authentication_error(client_for):
    with pytest.raises(stripe.AuthenticationError):
        client_for("sk_test_nope").v1.customers.list()


def test_it_creates_and_lists_a_customer(stripe_client):
    customer = stripe_client.v1.customers.create({"email": "ada@example.com", "metadata": {"plan": "gold"}})
    assert customer.id.startswith("cus_") and customer.metadata["plan"] == "gold"
    assert [c.id for c in stripe_client.v1.customers.list().data] == [customer.id]
