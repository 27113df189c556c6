"""The filter conditions: the 5 of SPEC §2, and the decline type and failure code of a failed
payment (issue 16). Each checks the run's object and says, when it does not match, what it
expected and what it found (for the event's matching record)."""

from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from djmoney.contrib.exchange.exceptions import MissingRate
from djmoney.contrib.exchange.models import convert_money, get_rate

from automations.triggers import ALL_TRIGGERS, INVOICE_TRIGGERS, PAYMENT_FAILED, SUBSCRIPTION_TRIGGERS


class InvalidParams(ValueError):
    """Filter or action parameters that cannot be used; `errors` maps a field to its message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class Check:
    matched: bool
    expected: str = ""
    found: str = ""


def _invoice(obj):
    return obj if obj._meta.model_name == "invoice" else None


def _subscription(obj):
    if obj._meta.model_name == "subscription":
        return obj
    return getattr(obj, "subscription", None)


def _text(params: dict, name: str, label: str, errors: dict) -> str:
    value = params.get(name)
    if not isinstance(value, str) or not value.strip():
        errors[name] = f"Enter the {label}."
        return ""
    if len(value) > 500:
        errors[name] = f"The {label} can be at most 500 characters."
    return value.strip()


class Filter:
    key: str
    label: str
    allowed_triggers: set[str]
    # Whether `check` depends on the object only through `read` (the batch path then checks once
    # per distinct value read, not once per object).
    reads_plainly = False

    def clean(self, params: dict) -> dict:
        raise NotImplementedError

    def read(self, obj, params: dict) -> Hashable:
        """What `check` reads of the object (when `reads_plainly`): two objects that read equal
        values get the same Check for these params (and the same exchange rates and currency)."""
        raise NotImplementedError

    def read_key(self, params: dict) -> Hashable:
        """The part of `params` that `read` depends on: filters with equal keys read the same."""
        return (self.key, repr(sorted(params.items())))

    def check(self, obj, params: dict, *, currency: str | None = None) -> Check:
        """`currency`: the account's default currency when the caller has it (amount filters convert to it)."""
        raise NotImplementedError

    def describe(self, params: dict) -> str:
        raise NotImplementedError


class CustomerMetadata(Filter):
    key, label, allowed_triggers = "customer_metadata", "Customer metadata", ALL_TRIGGERS
    source = "customer"

    def clean(self, params: dict) -> dict:
        errors: dict[str, str] = {}
        key, value = _text(params, "key", "metadata key", errors), _text(params, "value", "value", errors)
        if errors:
            raise InvalidParams(errors)
        return {"key": key, "value": value}

    reads_plainly = True

    def _metadata(self, obj) -> dict:
        return obj.customer.metadata

    def read(self, obj, params: dict) -> Hashable:
        found = self._metadata(obj).get(params["key"])
        return type(found), found  # 1 and True are equal keys, but print differently

    def read_key(self, params: dict) -> Hashable:
        return self.key, params["key"]

    def check(self, obj, params: dict, *, currency: str | None = None) -> Check:
        found = self._metadata(obj).get(params["key"])
        expected = f"{params['key']} = {params['value']}"
        return Check(found == params["value"], expected, "not set" if found is None else f"{params['key']} = {found}")

    def describe(self, params: dict) -> str:
        return f"{self.source} metadata {params['key']} is {params['value']}"


class InvoiceMetadata(CustomerMetadata):
    key, label = "invoice_metadata", "Invoice metadata"
    allowed_triggers = INVOICE_TRIGGERS | {PAYMENT_FAILED}
    source = "invoice"

    def _metadata(self, obj) -> dict:
        return obj.metadata


def _amount(params: dict, name: str, errors: dict) -> Decimal | None:
    raw = params.get(name)
    if raw in (None, ""):
        return None
    try:
        value = Decimal(str(raw))
    except (InvalidOperation, ValueError):
        errors[name] = "Enter an amount, e.g. 500 or 499.99."
        return None
    if not value.is_finite() or value < 0 or value > Decimal("1000000000"):
        errors[name] = "Enter an amount from 0 to 1,000,000,000."
        return None
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


_rates: ContextVar[dict | None] = ContextVar("automations_filter_rates", default=None)


@contextmanager
def rates_memo() -> Iterator[None]:
    """Within the block, each exchange rate (or its absence) is read once (the batch path)."""
    token = _rates.set({})
    try:
        yield
    finally:
        _rates.reset(token)


def _convert(total, currency: str):
    memo = _rates.get()
    if memo is None:
        return convert_money(total, currency)
    key = (str(total.currency), currency)
    if key not in memo:
        try:
            memo[key] = get_rate(*key)
        except MissingRate as missing:
            memo[key] = missing
    if isinstance(memo[key], MissingRate):
        raise memo[key]
    return total.__class__(total.amount * memo[key], currency)  # as convert_money does


class InvoiceAmount(Filter):
    key, label = "invoice_amount", "Invoice amount"
    allowed_triggers = INVOICE_TRIGGERS | {PAYMENT_FAILED}

    def clean(self, params: dict) -> dict:
        errors: dict[str, str] = {}
        low, high = _amount(params, "min", errors), _amount(params, "max", errors)
        if not errors and low is None and high is None:
            errors["min"] = "Enter a minimum, a maximum, or both."
        if not errors and low is not None and high is not None and low > high:
            errors["max"] = "The maximum must be at least the minimum."
        if errors:
            raise InvalidParams(errors)
        return {"min": None if low is None else str(low), "max": None if high is None else str(high)}

    reads_plainly = True

    def read(self, obj, params: dict) -> Hashable:
        total = obj.total
        return str(total.amount), str(total.currency)  # 120.0 and 120.00 are equal, but print differently

    def read_key(self, params: dict) -> Hashable:
        return self.key

    def check(self, obj, params: dict, *, currency: str | None = None) -> Check:
        from automations.engine.accounts import default_currency

        # The engine reads the account's currency once per event and passes it (one query, not two per check).
        currency = currency or default_currency()
        expected = self.describe(params, currency=currency)
        original = total = obj.total
        converted = str(total.currency) != currency
        if converted:
            try:
                total = _convert(total, currency)
            except MissingRate:
                return Check(
                    False, expected, f"{original}, and no exchange rate from {original.currency} to {currency}"
                )
        amount = total.amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        low = Decimal(params["min"]) if params.get("min") else None
        high = Decimal(params["max"]) if params.get("max") else None
        matched = (low is None or amount >= low) and (high is None or amount <= high)
        found = f"{amount} {currency}" + (f" (converted from {original})" if converted else "")
        return Check(matched, expected, found)

    def describe(self, params: dict, *, currency: str | None = None) -> str:
        from automations.engine.accounts import default_currency

        currency = currency or default_currency()
        low, high = params.get("min"), params.get("max")
        if low and high:
            return f"invoice amount from {low} to {high} {currency}"
        if low:
            return f"invoice amount at least {low} {currency}"
        return f"invoice amount at most {high} {currency}"


class SubscriptionInterval(Filter):
    key, label = "subscription_interval", "Subscription interval"
    allowed_triggers = SUBSCRIPTION_TRIGGERS | {PAYMENT_FAILED}
    NAMES = {"month": "monthly", "year": "yearly"}

    def clean(self, params: dict) -> dict:
        if params.get("interval") not in self.NAMES:
            raise InvalidParams({"interval": "Choose monthly or yearly."})
        return {"interval": params["interval"]}

    reads_plainly = True

    def read(self, obj, params: dict) -> Hashable:
        subscription = _subscription(obj)
        return subscription.interval if subscription else None

    def read_key(self, params: dict) -> Hashable:
        return self.key

    def check(self, obj, params: dict, *, currency: str | None = None) -> Check:
        subscription = _subscription(obj)
        found = subscription.interval if subscription else None
        return Check(
            found == params["interval"], f"interval is {self.NAMES[params['interval']]}",
            self.NAMES.get(found, "no subscription"),
        )  # fmt: skip

    def describe(self, params: dict) -> str:
        return f"{self.NAMES[params['interval']]} subscriptions"


class ProductFilter(Filter):
    key, label, allowed_triggers = "product", "Product", ALL_TRIGGERS

    def clean(self, params: dict) -> dict:
        from billing.models import Product

        ids = params.get("products")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            raise InvalidParams({"products": "Choose at least one product."})
        known = set(Product.objects.filter(public_id__in=ids).values_list("public_id", flat=True))
        if missing := [i for i in ids if i not in known]:
            raise InvalidParams({"products": f"Unknown product(s): {', '.join(missing)}."})
        return {"products": sorted(set(ids))}

    def _products(self, obj) -> set[str]:
        kind = obj._meta.model_name
        prefetched = getattr(obj, "_prefetched_objects_cache", {})  # the batch path prefetches them
        if kind == "subscription" and "items" in prefetched:
            rows = [item.price.product.public_id for item in obj.items.all()]
        elif kind == "subscription":
            rows = obj.items.values_list("price__product__public_id", flat=True)
        elif "lines" in prefetched:
            rows = [line.product.public_id if line.product_id else None for line in obj.lines.all()]
        else:
            rows = obj.lines.values_list("product__public_id", flat=True)
        return {r for r in rows if r}

    def check(self, obj, params: dict, *, currency: str | None = None) -> Check:
        found = self._products(obj)
        wanted = set(params["products"])
        return Check(
            bool(found & wanted), f"contains one of {', '.join(sorted(wanted))}",
            ", ".join(sorted(found)) or "no products",
        )  # fmt: skip

    def describe(self, params: dict) -> str:
        from billing.models import Product

        names = Product.objects.filter(public_id__in=params["products"]).values_list("name", flat=True)
        return "containing " + " or ".join(sorted(names))


def _payment_error(obj) -> dict | None:
    """The failed attempt the payment-failed filters read, as the invoice snapshot's
    `last_payment_error`: a backtest's snapshot carries the one recorded with the event that
    started the run; a live invoice (engine, dry run, backfill) answers its latest failed attempt,
    the one that started the run when its event is handled."""
    if hasattr(obj, "last_payment_error"):  # backtest.Snapshot: what the event recorded
        return obj.last_payment_error or None
    invoice = _invoice(obj)
    if invoice is None:
        return None
    from billing.serializers import last_payment_error

    return last_payment_error(invoice)


class DeclineTypeFilter(Filter):
    key, label, allowed_triggers = "decline_type", "Decline type", {PAYMENT_FAILED}
    NAMES = {"hard": "hard declines", "soft": "soft declines"}

    def clean(self, params: dict) -> dict:
        if params.get("decline_type") not in self.NAMES:
            raise InvalidParams({"decline_type": "Choose hard declines or soft declines."})
        return {"decline_type": params["decline_type"]}

    def check(self, obj, params: dict, *, currency: str | None = None) -> Check:
        error = _payment_error(obj)
        found = (error or {}).get("decline_type") or ""
        return Check(
            found == params["decline_type"], f"a {params['decline_type']} decline",
            f"a {found} decline" if found else "no declined payment",
        )  # fmt: skip

    def describe(self, params: dict) -> str:
        return self.NAMES[params["decline_type"]]


class FailureCodeFilter(Filter):
    key, label, allowed_triggers = "failure_code", "Failure code", {PAYMENT_FAILED}

    def clean(self, params: dict) -> dict:
        from billing.payments import FAILURE_CODES

        if params.get("code") not in FAILURE_CODES:
            raise InvalidParams({"code": f"Choose a failure code: {', '.join(FAILURE_CODES)}."})
        return {"code": params["code"]}

    def check(self, obj, params: dict, *, currency: str | None = None) -> Check:
        error = _payment_error(obj)
        found = (error or {}).get("code") or ""
        return Check(
            found == params["code"], f"failure code {params['code']}",
            f"failure code {found}" if found else "no failed payment",
        )  # fmt: skip

    def describe(self, params: dict) -> str:
        from billing.payments import FAILURE_CODES

        return f"failure code {params['code']} ({FAILURE_CODES[params['code']].lower()})"


FILTERS: dict[str, Filter] = {
    f.key: f
    for f in [
        CustomerMetadata(),
        InvoiceMetadata(),
        InvoiceAmount(),
        SubscriptionInterval(),
        ProductFilter(),
        DeclineTypeFilter(),
        FailureCodeFilter(),
    ]
}
