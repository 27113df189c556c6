"""What the billing resources' API tests start from: a customer made through the API (with one of
Stripe's test payment methods) and a price. Prices come from the catalog, made here directly: the
tests are about what the API does with them."""

from tests.factories import make_price


def api_customer(client, payment_method: str = "pm_card_visa", **params):
    return client.v1.customers.create(
        {"email": "ada@example.com", "name": "Ada Lovelace", "currency": "eur", "payment_method": payment_method}
        | params
    )


def monthly_price(amount: str = "20.00", currency: str = "EUR"):
    return make_price(amount=amount, currency=currency, interval="month").public_id


def one_off_price(amount: str = "150.00", currency: str = "EUR"):
    return make_price(amount=amount, currency=currency, interval="", name="Setup").public_id
