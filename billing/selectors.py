"""Reads for the dashboard: filtered lists, detail objects, the overview and settings tables.

Every list query has a fixed number of joins and prefetches, whatever the page size.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.contrib.auth.models import User
from django.db import connection
from django.db.models import BooleanField, Count, Exists, ExpressionWrapper, F, OuterRef, Prefetch, Q, QuerySet, Sum
from django.db.models.expressions import RawSQL
from djmoney.contrib.exchange.models import Rate
from djmoney.money import Money

from billing import clock
from billing.models import (
    Customer,
    Event,
    Invoice,
    InvoiceStatus,
    PaymentAttempt,
    Quote,
    QuoteStatus,
    RetryPolicy,
    Subscription,
    SubscriptionItem,
    SubscriptionStatus,
)
from billing.services.invoices import retry_hold
from frame.permissions import EDITORS

EXPIRING_SOON = timedelta(days=7)
EVENTS_SHOWN = 50

# Filters beyond the stored statuses: each maps a `status` value to a condition at time `now`.
OVERDUE = "overdue"
EXPIRING = "expiring"
HAS_OPEN_INVOICES = "open_invoices"
HAS_PAST_DUE = "past_due"


def _overdue(now: datetime) -> Q:
    return Q(status=InvoiceStatus.OPEN, due_date__isnull=False, due_date__lt=now)


def _expiring(now: datetime) -> Q:
    return Q(status=QuoteStatus.OPEN, expires_at__gt=now, expires_at__lte=now + EXPIRING_SOON)


def _search(fields: list[str], q: str) -> Q:
    condition = Q()
    for field in fields:
        condition |= Q(**{f"{field}__icontains": q})
    return condition


def _filter(qs: QuerySet, *, q: str, status: str, search: list[str], statuses: list[str], extra: dict) -> QuerySet:
    if q:
        qs = qs.filter(_search(search, q))
    if status in extra:
        qs = qs.filter(extra[status](clock.now()))
    elif status in statuses:
        qs = qs.filter(status=status)
    return qs


CUSTOMER_SEARCH = ["public_id", "name", "email"]
OWNER_SEARCH = ["public_id", "customer__name", "customer__email"]


def customer_list(*, q: str = "", status: str = "") -> QuerySet[Customer]:
    open_invoices = Invoice.objects.filter(customer=OuterRef("pk"), status=InvoiceStatus.OPEN)
    past_due = Subscription.objects.filter(
        customer=OuterRef("pk"), status__in=[SubscriptionStatus.PAST_DUE, SubscriptionStatus.UNPAID]
    )
    qs = Customer.objects.select_related("test_clock").annotate(
        has_open_invoices=Exists(open_invoices), has_past_due=Exists(past_due)
    )
    extra = {
        HAS_OPEN_INVOICES: lambda now: Q(has_open_invoices=True),
        HAS_PAST_DUE: lambda now: Q(has_past_due=True),
    }
    return _filter(qs, q=q, status=status, search=CUSTOMER_SEARCH, statuses=[], extra=extra)


# Beyond this many customers matching a search, their ids are not listed in the query.
SEARCH_CUSTOMERS_LISTED = 5000


def invoice_search(q: str) -> Q:
    """The invoices matching `q`: a public id by prefix, or a substring of the number or of the
    customer's name or email.

    1. Find the matching customers first (trigram indexes on their name and email, migration 0003).
    2. Match invoices on one table: id prefix (btree), number (trigram index) or one of those
       customer ids (the customer_id index); PostgreSQL combines the three index scans. A single
       `OR` across the invoice and customer tables would read every invoice instead.
    """
    customers = Customer.objects.filter(_search(["name", "email"], q)).order_by().values_list("pk", flat=True)
    customer_ids = list(customers[: SEARCH_CUSTOMERS_LISTED + 1])
    if len(customer_ids) > SEARCH_CUSTOMERS_LISTED:
        by_customer = Q(customer_id__in=customers)  # too many to list: a subquery (slower, same rows)
    elif connection.vendor == "postgresql":
        # One array parameter: `IN (…)` would make Django prepare each id and psycopg quote each
        # one, twice a page (list and count): 40 ms for a search matching 2,000 customers (bench: pages).
        column = f"{connection.ops.quote_name(Invoice._meta.db_table)}.{connection.ops.quote_name('customer_id')}"
        by_customer = RawSQL(f"{column} = ANY(%s)", (customer_ids,), output_field=BooleanField())
    else:
        by_customer = Q(customer_id__in=customer_ids)
    return Q(public_id__startswith=q) | Q(number__icontains=q) | by_customer


def invoice_list(*, q: str = "", status: str = "") -> QuerySet[Invoice]:
    qs = Invoice.objects.select_related("customer__test_clock").annotate(
        is_overdue=ExpressionWrapper(_overdue(clock.now()), output_field=BooleanField())
    )
    if q:
        qs = qs.filter(invoice_search(q))
    return _filter(qs, q="", status=status, search=[], statuses=InvoiceStatus.values, extra={OVERDUE: _overdue})


def _items_with_prices() -> Prefetch:
    return Prefetch("items", queryset=SubscriptionItem.objects.select_related("price__product"))


def subscription_list(*, q: str = "", status: str = "") -> QuerySet[Subscription]:
    qs = Subscription.objects.select_related("customer__test_clock").prefetch_related(_items_with_prices())
    return _filter(qs, q=q, status=status, search=OWNER_SEARCH, statuses=SubscriptionStatus.values, extra={})


def quote_list(*, q: str = "", status: str = "") -> QuerySet[Quote]:
    qs = Quote.objects.select_related("customer__test_clock")
    search = [*OWNER_SEARCH, "number"]
    return _filter(qs, q=q, status=status, search=search, statuses=QuoteStatus.values, extra={EXPIRING: _expiring})


# --- Detail pages -----------------------------------------------------------------------------


def customer_detail_qs() -> QuerySet[Customer]:
    return Customer.objects.select_related("test_clock")


def invoice_detail_qs() -> QuerySet[Invoice]:
    return Invoice.objects.select_related(
        "customer__test_clock", "subscription", "retry_policy", "quote"
    ).prefetch_related(
        "lines", Prefetch("payment_attempts", queryset=PaymentAttempt.objects.order_by("-created", "-id"))
    )


def subscription_detail_qs() -> QuerySet[Subscription]:
    return Subscription.objects.select_related("customer__test_clock").prefetch_related(_items_with_prices())


def quote_detail_qs() -> QuerySet[Quote]:
    return Quote.objects.select_related("customer__test_clock", "invoice").prefetch_related("lines")


def customer_related(customer: Customer, limit: int = 10) -> dict:
    """The customer's most recent subscriptions, invoices and quotes."""
    return {
        "subscriptions": list(customer.subscriptions.prefetch_related(_items_with_prices())[:limit]),
        "invoices": list(customer.invoices.all()[:limit]),
        "quotes": list(customer.quotes.all()[:limit]),
    }


# How the invoice page words what a hard decline was, by failure code (others show the code).
_DECLINED_AS = {
    "expired_card": "declined as expired",
    "incorrect_number": "declined as an incorrect number",
}


def retry_hold_note(invoice: Invoice) -> str:
    """Why an open invoice has no next retry when a hard decline holds it, else ""."""
    if invoice.status != InvoiceStatus.OPEN or invoice.next_payment_attempt is not None or not invoice.attempt_count:
        return ""
    attempt = retry_hold(invoice)
    if attempt is None:
        return ""
    if attempt.failure_code == "payment_method_missing":
        return "No automatic retry: the customer has no card (hard decline); the customer must add one."
    declined = _DECLINED_AS.get(attempt.failure_code, f"declined ({attempt.failure_code or 'no reason given'})")
    return f"No automatic retry: the card was {declined} (hard decline); the customer must change their card."


def subscription_invoices(subscription: Subscription, limit: int = 10) -> list[Invoice]:
    return list(subscription.invoices.all()[:limit])


def object_events(public_id: str, limit: int = EVENTS_SHOWN) -> list[Event]:
    """The newest events about one billing object."""
    return list(Event.objects.filter(object_id=public_id).order_by("-created", "-id")[:limit])


# --- Overview ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CurrencyTotal:
    currency: str
    count: int
    amount_due: Money


@dataclass(frozen=True)
class Overview:
    open_invoices: int
    open_by_currency: list[CurrencyTotal]
    overdue_invoices: int
    past_due_subscriptions: int
    expiring_quotes: int


def open_invoice_totals() -> list[CurrencyTotal]:
    """Open invoices per currency: how many, and the amount still due."""
    rows = (
        Invoice.objects.filter(status=InvoiceStatus.OPEN)
        .values("total_currency")
        .annotate(count=Count("id"), due=Sum(F("total") - F("amount_paid")))
        .order_by("total_currency")
    )
    return [
        CurrencyTotal(row["total_currency"], row["count"], Money(row["due"] or Decimal(0), row["total_currency"]))
        for row in rows
    ]


def overview() -> Overview:
    now = clock.now()
    by_currency = open_invoice_totals()
    return Overview(
        open_invoices=sum(row.count for row in by_currency),
        open_by_currency=by_currency,
        overdue_invoices=Invoice.objects.filter(_overdue(now)).count(),
        past_due_subscriptions=Subscription.objects.filter(status=SubscriptionStatus.PAST_DUE).count(),
        expiring_quotes=Quote.objects.filter(_expiring(now)).count(),
    )


# --- Settings page ----------------------------------------------------------------------------


def retry_policies() -> QuerySet[RetryPolicy]:
    return RetryPolicy.objects.order_by("name")


def exchange_rates() -> QuerySet[Rate]:
    return Rate.objects.select_related("backend").order_by("backend__name", "currency")


@dataclass(frozen=True)
class Member:
    user: User
    role: str


def team_members() -> list[Member]:
    """Active users with their role; anyone who is not an editor is a viewer."""
    users = User.objects.filter(is_active=True).prefetch_related("groups").order_by("username")
    return [Member(user, _role(user)) for user in users]


def _role(user: User) -> str:
    if user.is_superuser:
        return "Editor (superuser)"
    return "Editor" if any(group.name == EDITORS for group in user.groups.all()) else "Viewer"
