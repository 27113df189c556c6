"""Products and prices through the official stripe SDK: create, retrieve, update, list."""

import pytest
import stripe

from audit.models import AuditEntry
from tests.api.conftest import API

pytestmark = API


def test_it_creates_retrieves_updates_and_lists_products(stripe_client):
    product = stripe_client.v1.products.create(
        {"name": "Pro plan", "description": "For teams", "metadata": {"tier": "pro", "old": "1"}}
    )
    assert product.id.startswith("prod_") and product.object == "product" and product.active
    assert stripe_client.v1.products.retrieve(product.id).description == "For teams"
    updated = stripe_client.v1.products.update(product.id, {"name": "Pro", "active": False, "metadata": {"old": ""}})
    assert (updated.name, updated.active, updated.metadata.to_dict()) == ("Pro", False, {"tier": "pro"})
    other = stripe_client.v1.products.create({"name": "Basic"})
    assert [p.id for p in stripe_client.v1.products.list().data] == [other.id, product.id]
    assert [p.id for p in stripe_client.v1.products.list({"active": False}).data] == [product.id]


def test_a_product_created_by_a_key_is_audited_as_that_key(stripe_client):
    product = stripe_client.v1.products.create({"name": "Pro plan"})
    entry = AuditEntry.objects.get(action="product.created")
    assert (entry.actor_kind, entry.actor_label, entry.object_id) == ("api_key", "Tests", product.id)


def test_a_product_needs_a_name(stripe_client):
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.v1.products.create({"description": "Nameless"})
    assert refused.value.param == "name"


def test_it_creates_recurring_and_one_off_prices_in_minor_units(stripe_client):
    product = stripe_client.v1.products.create({"name": "Pro plan"})
    monthly = stripe_client.v1.prices.create(
        {"product": product.id, "unit_amount": 1999, "currency": "eur", "recurring": {"interval": "month"}}
    )
    assert monthly.id.startswith("price_") and monthly.object == "price"
    assert (monthly.unit_amount, monthly.currency, monthly.recurring.interval) == (1999, "eur", "month")
    assert monthly.type == "recurring" and monthly.product == product.id
    yen = stripe_client.v1.prices.create({"product": product.id, "unit_amount": 5000, "currency": "jpy"})
    assert (yen.unit_amount, yen.currency, yen.recurring, yen.type) == (5000, "jpy", None, "one_time")
    assert stripe_client.v1.prices.retrieve(monthly.id).unit_amount == 1999


def test_a_price_update_changes_its_nickname_and_active_but_never_its_amount(stripe_client):
    product = stripe_client.v1.products.create({"name": "Pro plan"})
    price = stripe_client.v1.prices.create({"product": product.id, "unit_amount": 1000, "currency": "usd"})
    updated = stripe_client.v1.prices.update(price.id, {"nickname": "Launch", "active": False})
    assert (updated.nickname, updated.active, updated.unit_amount) == ("Launch", False, 1000)
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.v1.prices.update(price.id, {"unit_amount": 2000})
    assert refused.value.param == "unit_amount"


def test_it_lists_prices_by_product(stripe_client):
    pro = stripe_client.v1.products.create({"name": "Pro plan"})
    basic = stripe_client.v1.products.create({"name": "Basic plan"})
    pro_monthly = stripe_client.v1.prices.create(
        {"product": pro.id, "unit_amount": 2000, "currency": "eur", "recurring": {"interval": "month"}}
    )
    pro_yearly = stripe_client.v1.prices.create(
        {"product": pro.id, "unit_amount": 20000, "currency": "eur", "recurring": {"interval": "year"}}
    )
    stripe_client.v1.prices.create({"product": basic.id, "unit_amount": 500, "currency": "eur"})
    listed = stripe_client.v1.prices.list({"product": pro.id})
    assert [p.id for p in listed.data] == [pro_yearly.id, pro_monthly.id]
    assert len(stripe_client.v1.prices.list().data) == 3
    assert len(stripe_client.v1.prices.list({"type": "one_time"}).data) == 1


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"unit_amount": 100, "currency": "eur"}, "product"),
        ({"product": "prod_nope", "unit_amount": 100, "currency": "eur"}, "product"),
        ({"product": "PRODUCT", "unit_amount": -1, "currency": "eur"}, "unit_amount"),
        ({"product": "PRODUCT", "unit_amount": "ten", "currency": "eur"}, "unit_amount"),
        ({"product": "PRODUCT", "unit_amount": 100}, "currency"),
        ({"product": "PRODUCT", "unit_amount": 100, "currency": "eur", "recurring": {"interval": "week"}},
         "recurring[interval]"),
        ({"product": "PRODUCT", "unit_amount": 100, "currency": "eur", "lookup_key": "pro"}, "lookup_key"),
    ],
)  # fmt: skip
def test_a_price_with_a_bad_parameter_is_refused_with_that_param(stripe_client, params, param):
    product = stripe_client.v1.products.create({"name": "Pro plan"})
    params = {key: product.id if value == "PRODUCT" else value for key, value in params.items()}
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.v1.prices.create(params)
    assert refused.value.http_status in (400, 404) and refused.value.param == param


def test_an_unsupported_currency_is_refused(stripe_client):
    product = stripe_client.v1.products.create({"name": "Pro plan"})
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.v1.prices.create({"product": product.id, "unit_amount": 100, "currency": "xyz"})
    assert "not supported" in refused.value.user_message


def test_a_missing_price_or_product_is_resource_missing(stripe_client):
    for call in (lambda: stripe_client.v1.prices.retrieve("price_nope"),
                 lambda: stripe_client.v1.products.retrieve("prod_nope")):  # fmt: skip
        with pytest.raises(stripe.InvalidRequestError) as missing:
            call()
        assert missing.value.code == "resource_missing"
