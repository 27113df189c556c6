"""A fixed-rate exchange backend for django-money: offline, seeds the demo currencies."""

from decimal import Decimal

from djmoney.contrib.exchange.backends.base import BaseExchangeBackend
from djmoney.contrib.exchange.models import Rate

# Units of each currency per 1 EUR (a fixed snapshot; edit rates in the admin afterwards).
RATES_PER_EUR = {
    "EUR": Decimal("1"),
    "USD": Decimal("1.08"),
    "GBP": Decimal("0.85"),
    "CHF": Decimal("0.95"),
    "CAD": Decimal("1.47"),
    "JPY": Decimal("162"),
}


class FixedRatesBackend(BaseExchangeBackend):
    name = "fixed"

    def get_rates(self, base_currency: str = "EUR", **kwargs) -> dict[str, Decimal]:
        base = RATES_PER_EUR[base_currency]
        return {code: (value / base).quantize(Decimal("0.000001")) for code, value in RATES_PER_EUR.items()}


def seed_rates(base_currency: str) -> bool:
    """Store the fixed rates unless rates exist already (edited rates are kept). True if seeded."""
    if Rate.objects.exists():
        return False
    FixedRatesBackend().update_rates(base_currency=base_currency)
    return True
