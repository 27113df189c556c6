"""Exchange rates the dashboard edits: the default django-money backend's table.

Field problems raise Django's ValidationError with a message per field.
"""

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from djmoney.contrib.exchange.models import ExchangeBackend, Rate, get_default_backend_name
from moneyed import CurrencyDoesNotExist, get_currency

import audit
from billing.models import AccountSettings

# A rate is "units of the currency per 1 unit of the base currency", stored with 6 decimals.
RATE_PLACES = Decimal("0.000001")
MIN_RATE = RATE_PLACES
MAX_RATE = Decimal("1000000")
CURRENCY_CODE = re.compile(r"[A-Z]{3}")


def rate_backend() -> ExchangeBackend | None:
    return ExchangeBackend.objects.filter(name=get_default_backend_name()).first()


def exchange_rate_list() -> QuerySet[Rate]:
    """The rates the dashboard converts with (the default backend's), by currency: one query."""
    return Rate.objects.filter(backend__name=get_default_backend_name()).select_related("backend").order_by("currency")


def clean_currency_code(code) -> str:
    """A currency code py-moneyed knows, e.g. "USD" (lower case is accepted and raised)."""
    code = code.strip().upper() if isinstance(code, str) else ""
    if not CURRENCY_CODE.fullmatch(code):
        raise ValidationError({"currency": "Enter a currency code of three letters, e.g. USD."})
    try:
        get_currency(code)
    except CurrencyDoesNotExist:
        raise ValidationError({"currency": f"“{code}” is not a known currency code."}) from None
    return code


def clean_rate_value(value) -> Decimal:
    """A positive rate within sane bounds, rounded half-up to 6 decimals."""
    try:
        value = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError, TypeError):
        raise ValidationError({"value": "Enter the rate as a number, e.g. 1.08."}) from None
    if not value.is_finite():
        raise ValidationError({"value": "Enter the rate as a number, e.g. 1.08."})
    if not MIN_RATE <= value <= MAX_RATE:
        raise ValidationError({"value": f"Enter a rate from {MIN_RATE} to {MAX_RATE:,}."})
    return value.quantize(RATE_PLACES, rounding=ROUND_HALF_UP)


def _clear_rate_cache(backend: str, currencies: set[str]) -> None:
    """django-money caches each conversion rate for 10 minutes under its currency pair: forget
    every pair that involves the stored currencies, or conversions keep the old rate."""
    codes = sorted(currencies | set(settings.CURRENCIES))
    keys = [f"djmoney:get_rate:{a}:{b}:{backend}" for a in codes for b in codes if a != b]
    cache.delete_many(keys)


def _forget_rates(backend: ExchangeBackend, changed: str) -> None:
    currencies = set(Rate.objects.filter(backend=backend).values_list("currency", flat=True))
    currencies |= {backend.base_currency, changed}
    _clear_rate_cache(backend.name, currencies)
    # Also after the commit: a conversion between now and then would cache the old rate again.
    transaction.on_commit(lambda: _clear_rate_cache(backend.name, currencies))


def exchange_rate_set(*, currency: str, value) -> Rate:
    """Add or change the rate of `currency` against the base currency (1 base = value currency).

    The first rate creates the rate table of the default backend, based on the account's
    default currency. The base currency's own rate is always 1."""
    currency = clean_currency_code(currency)
    value = clean_rate_value(value)
    with transaction.atomic():
        backend, _ = ExchangeBackend.objects.get_or_create(
            name=get_default_backend_name(), defaults={"base_currency": AccountSettings.load().default_currency}
        )
        if currency == backend.base_currency and value != 1:
            raise ValidationError({"currency": f"{currency} is the base currency: its rate is always 1."})
        old = Rate.objects.filter(backend=backend, currency=currency).values_list("value", flat=True).first()
        rate, _ = Rate.objects.update_or_create(backend=backend, currency=currency, defaults={"value": value})
        _forget_rates(backend, currency)
        audit.record(
            "exchange_rate.created" if old is None else "exchange_rate.updated",
            object_id=currency,
            label=currency,
            summary=f"1 {backend.base_currency} = {value.normalize():f} {currency}",
            before=None if old is None else {"value": old},
            after={"value": value},
        )
    return rate


def exchange_rate_delete(*, currency: str) -> bool:
    """Remove a currency's rate (amounts in it can no longer be converted). False if there was none."""
    with transaction.atomic():
        backend = rate_backend()
        if backend is None:
            return False
        old = Rate.objects.filter(backend=backend, currency=currency).values_list("value", flat=True).first()
        deleted, _ = Rate.objects.filter(backend=backend, currency=currency).delete()
        if deleted:
            _forget_rates(backend, currency)
            audit.record("exchange_rate.deleted", object_id=currency, label=currency, before={"value": old})
    return bool(deleted)
