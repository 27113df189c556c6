"""Small helpers shared by the billing services."""

from decimal import ROUND_HALF_UP, Decimal

from moneyed import Money

from billing.errors import BillingError


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET = _Unset()  # "leave this field as it is" in update services


def lock(obj):
    """The object's row, re-read and locked for the rest of the transaction.

    Its customer comes along in the same query (not locked), since every service needs it.
    """
    queryset = type(obj)._default_manager.select_for_update(of=("self",))
    if any(field.name == "customer" for field in obj._meta.concrete_fields):
        queryset = queryset.select_related("customer")
    return queryset.get(pk=obj.pk)


def round_money(money: Money) -> Money:
    places = Decimal(1) / (money.currency.sub_unit or 1)
    return Money(money.amount.quantize(places, rounding=ROUND_HALF_UP), money.currency)


def check_metadata(metadata) -> dict:
    """Metadata is a flat string→string mapping, as in Stripe."""
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise BillingError("Metadata must be a set of key/value pairs.")
    if len(metadata) > 50:
        raise BillingError("Metadata can have at most 50 keys.")
    clean = {}
    for key, value in metadata.items():
        if not isinstance(key, str) or not key.strip() or len(key) > 40:
            raise BillingError(f"Metadata key {key!r} must be a non-empty text of at most 40 characters.")
        if not isinstance(value, str | int | float) or isinstance(value, bool) or len(str(value)) > 500:
            raise BillingError(f"Metadata value for {key!r} must be a text of at most 500 characters.")
        clean[key.strip()] = str(value)
    return clean
