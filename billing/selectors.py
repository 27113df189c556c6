"""Reads for the dashboard: filtered lists, detail objects, the overview and settings tables.

Every list query has a fixed number of joins and prefetches, whatever the page size.
"""

import operator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import reduce

from django.contrib.auth.models import User
from django.contrib.postgres.expressions import ArraySubquery
from django.db import connection
from django.db.models import (
    BooleanField,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Sum,
)
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


# Beyond this many rows matching one part of a search, their ids are not listed in the query.
SEARCH_IDS_LISTED = 5000


def _listed(model, field, ids: list) -> Q:
    """`field = ANY(ids)` on `model`'s table (PostgreSQL), one array parameter: `IN (…)` would make
    Django prepare each id and psycopg quote each one, twice a page (list and count): 40 ms for a
    search matching 2,000 customers (bench: pages)."""
    qn = connection.ops.quote_name
    # Typed as the column: psycopg sends small ids as integer[], and `bigint = ANY(integer[])` is
    # checked element by element for every row read (10 ms a page of invoices for 2,000
    # customers, EXPLAIN ANALYZE) where the same-type array is hashed once (0.3 ms).
    sql = f"{qn(model._meta.db_table)}.{qn(field.column)} = ANY(%s::{field.cast_db_type(connection)}[])"
    # Integer ids as one array literal: psycopg's list dumper checks each element on its own
    # (cProfile: 8 ms a query for 2,000 ids, twice a page).
    literal = "{" + ",".join(map(str, ids)) + "}" if all(type(i) is int for i in ids) else ids
    return Q(RawSQL(sql, (literal,), output_field=BooleanField()))


def _key_column(field) -> str:
    """What a column holds: the related model's key for a foreign key, else the field itself."""
    return field.target_field.attname if field.is_relation else field.attname


def any_match(model, conditions: list[Q], related: dict | None = None) -> Q:
    """The rows of `model` matching any of `conditions` (on its own columns) or pointing, through
    a foreign key of `related` ({field name: queryset of the related model}), at a matching row.

    On PostgreSQL:
    1. One query reads the ids each table finds, as one array per part (at most
       SEARCH_IDS_LISTED + 1 ids each), each part through its own index: a prefix btree, a
       trigram index of migration 0003, the related table's. (Arrays, not rows: 2,000 customer
       ids as rows cost 14 ms a search under load, as arrays 5 ms.)
    2. Only the parts that found something remain, as `id = ANY(…)` or `customer_id = ANY(…)`:
       with one part left, a list and its capped count read a single index and stop early; an
       `OR` of an invoice and a customer column read every invoice instead (EXPLAIN ANALYZE at
       1M invoices: a 40,000-row bitmap for the count, 50 ms; now 0.3 ms). A part with more ids
       than listed stays a condition (a subquery for a related one): slower, same rows.
    Elsewhere (SQLite, small tables) the conditions and subqueries go into the query as they are.
    """
    sources = []  # (the condition as it is, the rows whose keys it lists, the column they go in)
    if conditions:
        own = reduce(operator.or_, conditions)
        sources.append((own, model._default_manager.filter(own), model._meta.pk))
    for name, rows in (related or {}).items():
        field = model._meta.get_field(name)
        sources.append((Q(**{f"{name}__in": rows.values(_key_column(field))}), rows, field))
    if not sources:
        return Q(pk__in=[])
    if connection.vendor != "postgresql":
        return reduce(operator.or_, (condition for condition, _, _ in sources))
    # One row of arrays, one per part (uncorrelated subqueries: each runs once). It is read from
    # the model's own table, so an empty table gives no row: then nothing can match anyway.
    arrays = {
        f"part{n}": ArraySubquery(rows.order_by().values(_key_column(key))[: SEARCH_IDS_LISTED + 1])
        for n, (_, rows, key) in enumerate(sources)
    }
    found = next(iter(model._default_manager.order_by().annotate(**arrays).values_list(*arrays)[:1]), None)
    parts = []
    for ids, (condition, _, key) in zip(found or (), sources, strict=False):
        if len(ids) > SEARCH_IDS_LISTED:
            parts.append(condition)
        elif ids:
            parts.append(_listed(model, key, ids))
    return reduce(operator.or_, parts) if parts else Q(pk__in=[])  # no match: Django runs no query


def invoice_search(q: str) -> Q:
    """The invoices matching `q`: a public id by prefix, or a substring of the number or of the
    customer's name or email (each part through its own index: see `any_match`)."""
    customers = Customer.objects.filter(_search(["name", "email"], q))
    return any_match(Invoice, [Q(public_id__startswith=q), Q(number__icontains=q)], related={"customer": customers})


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
