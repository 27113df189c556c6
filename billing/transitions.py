"""Allowed status transitions of invoices, subscriptions and quotes."""

from billing.errors import InvalidTransition
from billing.models import InvoiceStatus as I
from billing.models import QuoteStatus as Q
from billing.models import SubscriptionStatus as S

INVOICE_TRANSITIONS: dict[str, set[str]] = {
    I.DRAFT: {I.OPEN},
    I.OPEN: {I.PAID, I.VOID, I.UNCOLLECTIBLE},
    I.UNCOLLECTIBLE: {I.PAID, I.VOID},
    I.PAID: set(),
    I.VOID: set(),
}

SUBSCRIPTION_TRANSITIONS: dict[str, set[str]] = {
    S.ACTIVE: {S.PAST_DUE, S.PAUSED, S.CANCELED},
    S.PAST_DUE: {S.ACTIVE, S.UNPAID, S.PAUSED, S.CANCELED},
    S.UNPAID: {S.ACTIVE, S.CANCELED},
    S.PAUSED: {S.ACTIVE, S.CANCELED},
    S.CANCELED: set(),
}

QUOTE_TRANSITIONS: dict[str, set[str]] = {
    Q.DRAFT: {Q.OPEN, Q.CANCELED},
    Q.OPEN: {Q.ACCEPTED, Q.CANCELED},
    Q.ACCEPTED: set(),
    Q.CANCELED: set(),
}

_TABLES = {"invoice": INVOICE_TRANSITIONS, "subscription": SUBSCRIPTION_TRANSITIONS, "quote": QUOTE_TRANSITIONS}


def check_transition(obj, target: str) -> None:
    """Raise InvalidTransition unless `obj` may move from its status to `target`."""
    kind = obj._meta.model_name
    current = obj.status
    if target not in _TABLES[kind][current]:
        label = obj._meta.get_field("status").choices
        names = dict(label)
        raise InvalidTransition(
            f"{kind.capitalize()} {obj.public_id} is {names.get(current, current).lower()}; "
            f"it cannot become {names.get(target, target).lower()}."
        )
