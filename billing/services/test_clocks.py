"""Test clocks (Stripe's model): creating one, putting customers on it, advancing its time and
deleting it with everything of its customers.

A clock's advance is started here (checks, the clock marked `advancing`, one `ClockAdvance`
row) and walked by the engine's clockwork, which runs billing and the automations at every
moment something is due; this module only moves the clock's time and records how it went.
"""

from datetime import datetime

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

import audit
from billing.errors import BillingError
from billing.models import (
    AdvanceStatus,
    ClockAdvance,
    Event,
    Interval,
    Invoice,
    InvoiceStatus,
    Quote,
    QuoteStatus,
    Subscription,
    SubscriptionItem,
    SubscriptionStatus,
    TestClock,
    TestClockStatus,
)
from billing.services.subscriptions import add_interval

# Stripe allows 3 customers per clock. Ours is 10: enough to rehearse an automation's filters
# on a few kinds of customer, few enough that an advance stays a matter of seconds.
MAX_CUSTOMERS = 10
# An advance goes at most two intervals of the clock's longest subscription ahead (Stripe's
# rule); a clock with no subscription at most two years, as if it had a yearly one.
INTERVALS_PER_ADVANCE = 2


class ClockError(BillingError):
    """A test clock operation that cannot be done."""


def clock_create(*, name: str, frozen_time: datetime) -> TestClock:
    """A new clock, frozen at `frozen_time` (an aware moment, past or future)."""
    name = (name or "").strip()
    if not name:
        raise ClockError("A test clock needs a name.")
    if len(name) > 200:
        raise ClockError("A test clock's name has at most 200 characters.")
    if frozen_time is None or timezone.is_naive(frozen_time):
        raise ClockError("A test clock needs a start time with its time zone.")
    with transaction.atomic():
        test_clock = TestClock.objects.create(name=name, frozen_time=frozen_time.replace(microsecond=0))
        audit.record("test_clock.created", test_clock, after=audit.fields(test_clock, "name", "frozen_time"))
    return test_clock


def check_room_for_a_customer(test_clock: TestClock) -> TestClock:
    """The clock, locked, if a customer may join it (not while it advances, at most MAX_CUSTOMERS)."""
    test_clock = TestClock.objects.select_for_update().get(pk=test_clock.pk)
    if test_clock.status == TestClockStatus.ADVANCING:
        raise ClockError(f"Test clock “{test_clock.name}” is advancing; add customers once it is ready.")
    if test_clock.customers.count() >= MAX_CUSTOMERS:
        raise ClockError(f"A test clock holds at most {MAX_CUSTOMERS} customers; “{test_clock.name}” is full.")
    return test_clock


def latest_advance_target(test_clock: TestClock) -> datetime:
    """How far one advance may take the clock: two intervals of its longest live subscription."""
    intervals = set(
        SubscriptionItem.objects.filter(subscription__customer__test_clock=test_clock)
        .exclude(subscription__status=SubscriptionStatus.CANCELED)
        .values_list("price__interval", flat=True)
    )
    longest = Interval.MONTH if intervals == {Interval.MONTH} else Interval.YEAR
    return add_interval(test_clock.frozen_time, longest, INTERVALS_PER_ADVANCE)


def _already_advancing(test_clock: TestClock) -> ClockError:
    return ClockError(f"Test clock “{test_clock.name}” is already advancing; wait until it is ready.")


def clock_start_advance(*, test_clock: TestClock, to: datetime, user=None) -> ClockAdvance:
    """Mark the clock `advancing` towards `to` and record the advance; the caller has the
    clockwork walk it. Refused while another advance runs (whoever asked first wins)."""
    if to is None or timezone.is_naive(to):
        raise ClockError("Pick the moment to advance to, with its time zone.")
    to = to.replace(microsecond=0)
    with transaction.atomic():
        test_clock = TestClock.objects.select_for_update().get(pk=test_clock.pk)
        if test_clock.status == TestClockStatus.ADVANCING:
            raise _already_advancing(test_clock)
        if to <= test_clock.frozen_time:
            raise ClockError(
                f"Pick a moment after the clock's time ({test_clock.frozen_time:%Y-%m-%d %H:%M} UTC): "
                "a test clock only moves forward."
            )
        latest = latest_advance_target(test_clock)
        if to > latest:
            raise ClockError(
                f"A test clock advances at most {INTERVALS_PER_ADVANCE} intervals of its longest subscription "
                f"at a time: this one up to {latest:%Y-%m-%d %H:%M} UTC. Advance in several steps."
            )
        # A conditional update, so that two requests racing past the check above cannot both win.
        claimed = TestClock.objects.filter(pk=test_clock.pk).exclude(status=TestClockStatus.ADVANCING)
        if not claimed.update(status=TestClockStatus.ADVANCING, failure=""):
            raise _already_advancing(test_clock)
        advance = ClockAdvance.objects.create(
            test_clock=test_clock, from_time=test_clock.frozen_time, to_time=to, requested_by=user
        )
        audit.record(
            "test_clock.advanced",
            test_clock,
            summary=f"Advancing to {to:%Y-%m-%d %H:%M} UTC.",
            before={"frozen_time": test_clock.frozen_time},
            after={"frozen_time": to},
        )
        return advance


def clock_move(*, advance: ClockAdvance, moment: datetime) -> None:
    """The clock of a running advance reaches `moment` (never backwards, never past the target)."""
    moment = min(moment, advance.to_time)
    TestClock.objects.filter(pk=advance.test_clock_id, frozen_time__lt=moment).update(frozen_time=moment)
    ClockAdvance.objects.filter(pk=advance.pk).update(moments=advance.moments + 1)
    advance.moments += 1


def clock_finish_advance(*, advance: ClockAdvance, error: str = "") -> None:
    """The advance is over: the clock is `ready` at its target, or `internal_failure` with the error."""
    now = timezone.now()
    with transaction.atomic():
        if error:
            ClockAdvance.objects.filter(pk=advance.pk).update(status=AdvanceStatus.FAILED, error=error, finished_at=now)
            TestClock.objects.filter(pk=advance.test_clock_id).update(
                status=TestClockStatus.INTERNAL_FAILURE, failure=error
            )
        else:
            ClockAdvance.objects.filter(pk=advance.pk).update(status=AdvanceStatus.SUCCEEDED, finished_at=now)
            TestClock.objects.filter(pk=advance.test_clock_id).update(
                status=TestClockStatus.READY, frozen_time=advance.to_time, failure=""
            )


def clock_delete(*, test_clock: TestClock) -> dict[str, int]:
    """Delete the clock with its customers and everything of theirs (subscriptions, invoices,
    quotes, events; runs, matching records and emails go with their clock or their events).
    Refused while it advances. Returns how many of each were deleted."""
    with transaction.atomic():
        test_clock = TestClock.objects.select_for_update().get(pk=test_clock.pk)
        if test_clock.status == TestClockStatus.ADVANCING:
            raise ClockError(f"Test clock “{test_clock.name}” is advancing; delete it once it is ready.")
        on_clock = Q(customer__test_clock=test_clock)
        counts = {
            "quotes": Quote.objects.filter(on_clock).delete()[1].get("billing.Quote", 0),
            "invoices": Invoice.objects.filter(on_clock).delete()[1].get("billing.Invoice", 0),
            "subscriptions": Subscription.objects.filter(on_clock).delete()[1].get("billing.Subscription", 0),
        }
        counts["events"] = Event.objects.filter(test_clock=test_clock).count()
        counts["customers"] = test_clock.customers.count()
        public_id, before = test_clock.public_id, audit.fields(test_clock, "name", "frozen_time")
        test_clock.delete()  # cascades: customers, events, runs, matching records, emails, advances
        audit.record(
            "test_clock.deleted",
            object_id=public_id,
            label=before["name"],
            summary=", ".join(f"{count} {name}" for name, count in counts.items()) + " deleted with it.",
            before=before,
        )
    return counts


def simulated_moments_ahead(test_clock: TestClock, *, after: datetime, until: datetime) -> datetime | None:
    """The first moment in (`after`, `until`] at which billing has something due for the clock's
    customers: a renewal, a scheduled cancellation, a pause starting or ending, a payment retry,
    an invoice falling overdue, a quote expiring. None if nothing is due before `until`."""
    on_clock = Q(customer__test_clock=test_clock)
    window = {"__gt": after, "__lte": until}

    def first(queryset, field: str) -> datetime | None:
        lookups = {f"{field}{op}": value for op, value in window.items()}
        return queryset.filter(**lookups).order_by(field).values_list(field, flat=True).first()

    live = Subscription.objects.filter(on_clock).exclude(status=SubscriptionStatus.CANCELED)
    candidates = [
        first(live, "current_period_end"),
        first(live, "cancel_at"),
        first(live, "pause_starts_at"),
        first(live.filter(status=SubscriptionStatus.PAUSED), "pause_resumes_at"),
        first(Invoice.objects.filter(on_clock, status=InvoiceStatus.OPEN), "next_payment_attempt"),
        first(Invoice.objects.filter(on_clock, status="open", overdue_at__isnull=True), "due_date"),
        first(Quote.objects.filter(on_clock, status=QuoteStatus.OPEN), "expires_at"),
    ]
    found = [moment for moment in candidates if moment is not None]
    return min(found) if found else None
