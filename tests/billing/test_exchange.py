from decimal import Decimal

import pytest
from djmoney.contrib.exchange.models import Rate, convert_money
from moneyed import Money

from billing.exchange import seed_rates

pytestmark = pytest.mark.django_db


def test_the_fixed_backend_seeds_rates_for_the_demo_currencies_once():
    assert seed_rates("EUR") is True
    assert set(Rate.objects.values_list("currency", flat=True)) >= {"EUR", "USD", "GBP"}
    assert seed_rates("EUR") is False


def test_amounts_convert_through_the_stored_rates():
    seed_rates("EUR")
    assert convert_money(Money(108, "USD"), "EUR").amount == Decimal("100")


def test_an_edited_rate_is_kept_and_used():
    seed_rates("EUR")
    Rate.objects.filter(currency="USD").update(value=Decimal("2"))
    seed_rates("EUR")
    assert convert_money(Money(10, "USD"), "EUR").amount == Decimal("5")
