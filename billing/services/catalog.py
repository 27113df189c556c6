"""Catalog services: products and their prices (the API creates and updates them; the admin edits
them directly). A price's amount, currency and interval are fixed once created, as in Stripe: a new
amount is a new price."""

from decimal import Decimal

from django.conf import settings
from django.db import transaction
from moneyed import Money, get_currency

import audit
from billing.errors import BillingError
from billing.models import Interval, Price, Product
from billing.services.common import UNSET, check_metadata, lock

MAX_UNIT_AMOUNT = 99_999_999  # in the currency's minor unit, as Stripe's limit


def _check_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise BillingError("A product needs a name.")
    if len(name) > 200 or "\x00" in name:
        raise BillingError("A product's name has at most 200 characters.")
    return name


def product_create(*, name: str, description: str = "", active: bool = True, metadata: dict | None = None) -> Product:
    with transaction.atomic():
        product = Product.objects.create(
            name=_check_name(name), description=(description or "").strip(), active=active,
            metadata=check_metadata(metadata),
        )  # fmt: skip
        audit.record("product.created", product, after=audit.fields(product, "name", "active"))
    return product


def product_update(*, product: Product, name=UNSET, description=UNSET, active=UNSET, metadata=UNSET) -> Product:
    with transaction.atomic():
        product = lock(product)
        changes = {
            "name": name if name is UNSET else _check_name(name),
            "description": description if description is UNSET else (description or "").strip(),
            "active": active,
            "metadata": metadata if metadata is UNSET else check_metadata(metadata),
        }
        fields = [f for f, v in changes.items() if v is not UNSET and getattr(product, f) != v]
        before = audit.fields(product, *fields)
        for field in fields:
            setattr(product, field, changes[field])
        if fields:
            product.save(update_fields=fields)
            audit.record("product.updated", product, before=before, after=audit.fields(product, *fields))
    return product


def money_from_minor_units(amount: int, currency: str) -> Money:
    """`amount` in the currency's smallest unit (cents) as Money: 1999 EUR is 19.99 €."""
    currency = (currency or "").upper()
    if currency not in settings.CURRENCIES:
        raise BillingError(
            f"Currency {currency or '(none)'} is not supported: use one of {', '.join(settings.CURRENCIES)}."
        )
    if not 0 <= amount <= MAX_UNIT_AMOUNT:
        raise BillingError(f"An amount is between 0 and {MAX_UNIT_AMOUNT} in the currency's smallest unit.")
    sub_unit = get_currency(currency).sub_unit or 1
    return Money(Decimal(amount) / sub_unit, currency)


def price_create(
    *, product: Product, unit_amount: int, currency: str, interval: str = "", nickname: str = "", active: bool = True
) -> Price:
    """A price of `product`: `unit_amount` in the currency's minor unit, monthly, yearly or one-off ("")."""
    if interval not in Interval.values and interval != "":
        raise BillingError(f"A price recurs by {' or '.join(Interval.values)} (or not at all).")
    if len(nickname or "") > 100:
        raise BillingError("A price's nickname has at most 100 characters.")
    if not product.active:
        raise BillingError(f"Product {product.public_id} is archived: prices cannot be added to it.")
    amount = money_from_minor_units(unit_amount, currency)
    with transaction.atomic():
        price = Price.objects.create(
            product=product, unit_amount=amount, interval=interval, nickname=(nickname or "").strip(), active=active,
        )  # fmt: skip
        audit.record("price.created", price, after=audit.fields(price, "product", "unit_amount", "interval", "active"))
    return price


def price_update(*, price: Price, nickname=UNSET, active=UNSET) -> Price:
    """Only a price's nickname and whether it is active change (a new amount is a new price)."""
    if nickname is not UNSET and len(nickname or "") > 100:
        raise BillingError("A price's nickname has at most 100 characters.")
    with transaction.atomic():
        price = lock(price)
        changes = {"nickname": nickname if nickname is UNSET else (nickname or "").strip(), "active": active}
        fields = [f for f, v in changes.items() if v is not UNSET and getattr(price, f) != v]
        before = audit.fields(price, *fields)
        for field in fields:
            setattr(price, field, changes[field])
        if fields:
            price.save(update_fields=fields)
            audit.record("price.updated", price, before=before, after=audit.fields(price, *fields))
    return price
