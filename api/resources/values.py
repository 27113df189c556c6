"""Stripe parameters read into Python values for the billing resources, each bad value refused
with 400 and its `param` (`items[0][quantity]`), as Stripe answers. Unlike `api.encoding`'s readers
(one top-level parameter by name, metadata merging), these take the value and its param's name, so
that they serve nested parameters as well; they add ids, timestamps, choices and currencies.

The values come from `api.encoding.params`: strings from a form-encoded body or a query string
(`"true"`, `"1700000000"`), or JSON values when the body is JSON.
"""

from datetime import UTC, datetime

from django.conf import settings
from django.db.models import QuerySet

from api.encoding import known
from api.errors import invalid, missing
from billing.models import CollectionMethod


def only(values: dict, allowed: set[str]) -> dict:
    """`api.encoding.known` (an unknown parameter is refused, as Stripe does), returning the values."""
    known(values, *allowed)
    return values


def required(values: dict, name: str, param: str | None = None):
    value = values.get(name)
    if value in (None, ""):
        invalid(f"Missing required param: {param or name}.", param=param or name)
    return value


def found(queryset: QuerySet, public_id, resource: str, param: str = "id"):
    """The object with this public id, or 404 resource_missing ("No such customer: 'cus_x'")."""
    if not isinstance(public_id, str) or not public_id:
        invalid(f"Invalid {param}: it must be the id of a {resource}.", param=param)
    obj = queryset.filter(public_id=public_id).first()
    if obj is None:
        missing(resource, public_id, param=param)
    return obj


def text(value, param: str, *, max_length: int = 500) -> str:
    if not isinstance(value, str):
        invalid(f"Invalid {param}: it must be a string.", param=param)
    if len(value) > max_length:
        invalid(f"Invalid {param}: at most {max_length} characters.", param=param)
    if "\x00" in value:
        invalid(f"Invalid {param}: it cannot contain NUL characters.", param=param)
    return value


def integer(value, param: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    if isinstance(value, bool):
        invalid(f"Invalid integer: {value}", param=param)
    try:
        number = int(value) if isinstance(value, int) else int(str(value).strip())
    except (TypeError, ValueError):
        invalid(f"Invalid integer: {value}", param=param)
    if minimum is not None and number < minimum:
        invalid(f"Invalid {param}: it must be at least {minimum}.", param=param)
    if maximum is not None and number > maximum:
        invalid(f"Invalid {param}: it must be at most {maximum}.", param=param)
    return number


def boolean(value, param: str) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    invalid(f"Invalid boolean: {value}", param=param)


# Timestamps between 1970 and 2100: a year 3000 or a millisecond timestamp is a mistake.
LATEST_TIMESTAMP = 4_102_444_800


def timestamp(value, param: str) -> datetime:
    """A Unix timestamp in seconds as an aware UTC moment."""
    seconds = integer(value, param, minimum=0)
    if seconds > LATEST_TIMESTAMP:
        invalid(f"Invalid {param}: {value} is not a Unix timestamp in seconds (after 2100).", param=param)
    return datetime.fromtimestamp(seconds, tz=UTC)


def choice(value, param: str, choices) -> str:
    if value not in list(choices):
        invalid(f"Invalid {param}: must be one of {', '.join(choices)}.", param=param)
    return value


def currency(value, param: str = "currency") -> str:
    code = text(value, param, max_length=3).upper()
    if code not in settings.CURRENCIES:
        invalid(f"Invalid currency: {value}. Supported: {', '.join(c.lower() for c in settings.CURRENCIES)}.", param)
    return code


def indexed(value, param: str) -> list:
    """A list parameter (`items[0][price]=…`): a list of dicts."""
    if isinstance(value, dict) and all(str(key).isdigit() for key in value):
        value = [value[key] for key in sorted(value, key=int)]
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        invalid(f"Invalid {param}: it must be a list ({param}[0][…]=…).", param=param)
    return value


def collection(values: dict, *, current: str = CollectionMethod.CHARGE_AUTOMATICALLY, due_date: bool = False) -> dict:
    """`collection_method`, and `days_until_due` (or `due_date`, for invoices) which go only with
    `send_invoice`, as in Stripe: given now, or the object's `current` method."""
    kwargs = {}
    if "collection_method" in values:
        kwargs["collection_method"] = choice(values["collection_method"], "collection_method", CollectionMethod.values)
    sends_invoice = kwargs.get("collection_method", current) == CollectionMethod.SEND_INVOICE
    for name in ("days_until_due", "due_date") if due_date else ("days_until_due",):
        if name in values and not sends_invoice:
            invalid(f"{name} is only valid with collection_method=send_invoice.", param=name)
    if "days_until_due" in values:
        kwargs["days_until_due"] = integer(values["days_until_due"], "days_until_due", minimum=0, maximum=365)
    if due_date and "due_date" in values:
        kwargs["due_date"] = timestamp(values["due_date"], "due_date")
    return kwargs
