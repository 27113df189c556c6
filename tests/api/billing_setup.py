"""What the billing resources' API tests start from, made through the SDK too: a customer with one
of Stripe's test payment methods, a product and its price (monthly or one-off)."""


def api_customer(client, payment_method: str = "pm_card_visa", **params):
    return client.v1.customers.create(
        {"email": "ada@example.com", "name": "Ada Lovelace", "currency": "eur", "payment_method": payment_method}
        | params
    )


def api_price(client, unit_amount: int, *, interval: str | None = "month", name: str = "Pro plan") -> str:
    product = client.v1.products.create({"name": name})
    params = {"product": product.id, "unit_amount": unit_amount, "currency": "eur"}
    if interval:
        params["recurring"] = {"interval": interval}
    return client.v1.prices.create(params).id


def monthly_price(client, unit_amount: int = 2000) -> str:
    return api_price(client, unit_amount)


def one_off_price(client, unit_amount: int = 15000) -> str:
    return api_price(client, unit_amount, interval=None, name="Setup")
