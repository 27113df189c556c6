"""Subscription services: creation, renewal, status changes, cancellation and pausing.

Each changes the subscription alone; billing its periods and what that sets in motion for its
invoices are in `billing.services.collection`.
"""

from datetime import datetime

from django.db import transaction

import audit
from billing import clock
from billing.errors import BillingError, InvalidTransition
from billing.events import record_event
from billing.models import (
    CollectionMethod,
    Customer,
    EventType,
    Interval,
    PauseBehavior,
    Price,
    Subscription,
    SubscriptionItem,
    SubscriptionStatus,
)
from billing.serializers import snapshot
from billing.services.common import UNSET, check_metadata, lock
from billing.transitions import check_transition


def add_interval(moment: datetime, interval: str, count: int = 1) -> datetime:
    """`moment` moved by whole months or years, clamping the day (31 Jan + 1 month = 28/29 Feb)."""
    months = count * (12 if interval == Interval.YEAR else 1)
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    for day in range(moment.day, 27, -1):
        try:
            return moment.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    return moment.replace(year=year, month=month, day=min(moment.day, 28))


def subscription_start(
    *,
    customer: Customer,
    items: list[tuple[Price, int]],
    collection_method: str = CollectionMethod.CHARGE_AUTOMATICALLY,
    days_until_due: int | None = None,
    metadata: dict | None = None,
    start: datetime | None = None,
) -> Subscription:
    """Start a subscription (`customer.subscription.created`); `subscription_create` bills its first period."""
    if not items:
        raise BillingError("A subscription needs at least one price.")
    intervals = {price.interval for price, _ in items}
    currencies = {str(price.unit_amount.currency) for price, _ in items}
    if "" in intervals or None in intervals:
        raise BillingError("Subscriptions take recurring prices only.")
    if len(intervals) > 1:
        raise BillingError("All prices of a subscription must have the same interval.")
    if len(currencies) > 1:
        raise BillingError("All prices of a subscription must be in the same currency.")
    if collection_method == CollectionMethod.SEND_INVOICE and days_until_due is None:
        days_until_due = 30
    interval = intervals.pop()
    with transaction.atomic():
        start = start or clock.now(customer=customer)
        subscription = Subscription.objects.create(
            customer=customer,
            status=SubscriptionStatus.ACTIVE,
            currency=currencies.pop(),
            current_period_start=start,
            current_period_end=add_interval(start, interval),
            collection_method=collection_method,
            days_until_due=days_until_due,
            metadata=check_metadata(metadata),
            created=start,
        )
        SubscriptionItem.objects.bulk_create(
            [SubscriptionItem(subscription=subscription, price=price, quantity=qty) for price, qty in items]
        )
        record_event(type=EventType.SUBSCRIPTION_CREATED, obj=subscription)
        audit.record(
            "subscription.created",
            subscription,
            summary=f"For {customer.name}: " + ", ".join(f"{qty} × {price}" for price, qty in items) + ".",
            after=audit.fields(subscription, "status", "customer", "collection_method", "current_period_end"),
        )
    return subscription


def subscription_advance_period(*, subscription: Subscription) -> Subscription | None:
    """Move a subscription whose period has ended into the next one; `subscription_renew` invoices it.

    Returns None when nothing is due (already renewed, canceled, or its cancellation comes
    first), so running it twice advances once.
    """
    with transaction.atomic():
        subscription = lock(subscription)
        now = clock.now(customer=subscription.customer)
        if subscription.status == SubscriptionStatus.CANCELED or subscription.current_period_end > now:
            return None
        if subscription.cancel_at and subscription.cancel_at <= subscription.current_period_end:
            return None  # the scheduled cancellation ends it instead
        before = snapshot(subscription)
        interval = subscription.interval or Interval.MONTH
        subscription.current_period_start = subscription.current_period_end
        subscription.current_period_end = add_interval(subscription.current_period_end, interval)
        subscription.save(update_fields=["current_period_start", "current_period_end", "updated"])
        record_event(type=EventType.SUBSCRIPTION_UPDATED, obj=subscription, before=before)
    return subscription


def _set_status(subscription: Subscription, target: str, **fields) -> Subscription:
    with transaction.atomic():
        subscription = lock(subscription)
        check_transition(subscription, target)
        before = snapshot(subscription)
        subscription.status = target
        for name, value in fields.items():
            setattr(subscription, name, value)
        subscription.save(update_fields=["status", *fields, "updated"])
        event_type = (
            EventType.SUBSCRIPTION_DELETED if target == SubscriptionStatus.CANCELED else EventType.SUBSCRIPTION_UPDATED
        )
        record_event(type=event_type, obj=subscription, before=before)
    return subscription


def subscription_mark_active(*, subscription: Subscription) -> Subscription:
    """past_due/unpaid/paused → active (its invoices are paid, or collection resumed)."""
    return _set_status(subscription, SubscriptionStatus.ACTIVE)


def subscription_mark_past_due(*, subscription: Subscription) -> Subscription:
    """active → past_due: a payment failed."""
    return _set_status(subscription, SubscriptionStatus.PAST_DUE)


def subscription_mark_unpaid(*, subscription: Subscription) -> Subscription:
    """past_due → unpaid: keeps invoicing each period, leaving the invoices in draft."""
    return _set_status(subscription, SubscriptionStatus.UNPAID)


def subscription_end(*, subscription: Subscription, reason: str = "cancellation_requested") -> Subscription:
    """Cancel now (`customer.subscription.deleted`); `subscription_cancel` also stops its open invoices."""
    with transaction.atomic():
        now = clock.now(customer=subscription.customer)
        return _set_status(
            subscription,
            SubscriptionStatus.CANCELED,
            canceled_at=now,
            ended_at=now,
            cancellation_reason=reason,
            pause_behavior="",
            pause_starts_at=None,
            pause_resumes_at=None,
        )


def _audited(action: str, subscription: Subscription, before: dict) -> Subscription:
    """Audit log: the fields named in `before` as they were and as they are (nothing if unchanged)."""
    after = audit.fields(subscription, *before)
    if after != before:
        audit.record(action, subscription, before=before, after=after)
    return subscription


def _update(subscription: Subscription, **fields) -> Subscription:
    """Save changed fields and record `customer.subscription.updated` (nothing if unchanged)."""
    before = snapshot(subscription)
    changed = [name for name, value in fields.items() if getattr(subscription, name) != value]
    if not changed:
        return subscription
    for name in changed:
        setattr(subscription, name, fields[name])
    subscription.save(update_fields=[*changed, "updated"])
    record_event(type=EventType.SUBSCRIPTION_UPDATED, obj=subscription, before=before)
    return subscription


def subscription_schedule_cancel(
    *, subscription: Subscription, at: datetime | None = None, at_period_end: bool = False
) -> Subscription:
    """Schedule the cancellation at the period's end or at a date (`customer.subscription.updated`)."""
    with transaction.atomic():
        subscription = lock(subscription)
        if subscription.status == SubscriptionStatus.CANCELED:
            raise InvalidTransition(f"Subscription {subscription.public_id} is already canceled.")
        now = clock.now(customer=subscription.customer)
        if at_period_end:
            at = subscription.current_period_end
        if at is None:
            raise BillingError("Choose a cancellation date, or the end of the current period.")
        if at <= now:
            raise BillingError("The cancellation date must be in the future; to cancel now, cancel the subscription.")
        before = audit.fields(subscription, "cancel_at", "cancel_at_period_end")
        subscription = _update(subscription, cancel_at=at, cancel_at_period_end=at_period_end)
        return _audited("subscription.cancel_scheduled", subscription, before)


def subscription_unschedule_cancel(*, subscription: Subscription) -> Subscription:
    """Withdraw a scheduled cancellation."""
    with transaction.atomic():
        subscription = lock(subscription)
        if subscription.status == SubscriptionStatus.CANCELED:
            raise InvalidTransition(f"Subscription {subscription.public_id} is already canceled.")
        if subscription.cancel_at is None:
            raise BillingError(f"Subscription {subscription.public_id} has no scheduled cancellation.")
        before = audit.fields(subscription, "cancel_at", "cancel_at_period_end")
        subscription = _update(subscription, cancel_at=None, cancel_at_period_end=False)
        return _audited("subscription.cancel_unscheduled", subscription, before)


def subscription_pause_collection(
    *,
    subscription: Subscription,
    behavior: str = PauseBehavior.KEEP_AS_DRAFT,
    starts_at: datetime | None = None,
    resumes_at: datetime | None = None,
) -> Subscription:
    """Pause payment collection now, or schedule the pause to start later."""
    if behavior not in PauseBehavior.values:
        raise BillingError(f"Unknown pause behaviour {behavior!r}.")
    with transaction.atomic():
        subscription = lock(subscription)
        now = clock.now(customer=subscription.customer)
        starts_at = starts_at or now
        if resumes_at is not None and resumes_at <= starts_at:
            raise BillingError("Collection must resume after the pause starts.")
        before = audit.fields(subscription, "status", "pause_behavior", "pause_starts_at", "pause_resumes_at")
        if starts_at <= now:
            subscription = _set_status(
                subscription,
                SubscriptionStatus.PAUSED,
                pause_behavior=behavior,
                pause_starts_at=starts_at,
                pause_resumes_at=resumes_at,
            )
            return _audited("subscription.paused", subscription, before)
        if subscription.status not in (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE):
            raise InvalidTransition(
                f"Subscription {subscription.public_id} is {subscription.status}; its collection cannot be paused."
            )
        subscription = _update(
            subscription, pause_behavior=behavior, pause_starts_at=starts_at, pause_resumes_at=resumes_at
        )
        return _audited("subscription.pause_scheduled", subscription, before)


def subscription_start_pause_if_due(*, subscription: Subscription) -> Subscription | None:
    """Start a scheduled pause whose time has come (safe to call twice)."""
    with transaction.atomic():
        subscription = lock(subscription)
        now = clock.now(customer=subscription.customer)
        due = (
            subscription.status in (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE)
            and subscription.pause_starts_at is not None
            and subscription.pause_starts_at <= now
        )
        if not due:
            return None
        return _set_status(subscription, SubscriptionStatus.PAUSED)


def subscription_resume_collection(*, subscription: Subscription) -> Subscription:
    """Resume collection: a paused subscription becomes active; a scheduled pause is withdrawn."""
    with transaction.atomic():
        subscription = lock(subscription)
        cleared = {"pause_behavior": "", "pause_starts_at": None, "pause_resumes_at": None}
        before = audit.fields(subscription, "status", "pause_behavior", "pause_starts_at", "pause_resumes_at")
        if subscription.status == SubscriptionStatus.PAUSED:
            subscription = _set_status(subscription, SubscriptionStatus.ACTIVE, **cleared)
            return _audited("subscription.resumed", subscription, before)
        if subscription.pause_starts_at is None:
            raise BillingError(f"Subscription {subscription.public_id} has no paused or scheduled collection.")
        subscription = _update(subscription, **cleared)
        return _audited("subscription.resumed", subscription, before)


def subscription_resume_if_due(*, subscription: Subscription) -> Subscription | None:
    """Resume a paused subscription whose `resumes_at` has come (safe to call twice)."""
    with transaction.atomic():
        subscription = lock(subscription)
        now = clock.now(customer=subscription.customer)
        due = (
            subscription.status == SubscriptionStatus.PAUSED
            and subscription.pause_resumes_at is not None
            and subscription.pause_resumes_at <= now
        )
        if not due:
            return None
        return subscription_resume_collection(subscription=subscription)


def subscription_update(
    *, subscription: Subscription, metadata=UNSET, collection_method=UNSET, days_until_due=UNSET
) -> Subscription:
    """Change a subscription's editable fields (`customer.subscription.updated`)."""
    fields = {}
    if metadata is not UNSET:
        fields["metadata"] = check_metadata(metadata)
    if collection_method is not UNSET:
        if collection_method not in CollectionMethod.values:
            raise BillingError(f"Unknown collection method {collection_method!r}.")
        fields["collection_method"] = collection_method
    if days_until_due is not UNSET:
        fields["days_until_due"] = days_until_due
    with transaction.atomic():
        subscription = lock(subscription)
        if subscription.status == SubscriptionStatus.CANCELED and set(fields) - {"metadata"}:
            raise InvalidTransition(f"Subscription {subscription.public_id} is canceled; only its metadata can change.")
        before = audit.fields(subscription, *fields)
        subscription = _update(subscription, **fields)
        return _audited("subscription.updated", subscription, before)
