"""Reads for the test clock pages: the list, a clock with its customers and its progress, what a
deletion would take with it, and the history of its advances.

The history is read from the objects' own simulated times (an event's `created`, a run's
`started_at` and `finished_at`, a step's `executed_at`), by the clock's id: an advance shows what
happened in (from_time, to_time]; what happened at or before the first advance's start (the
customers' creation, their first invoices) shows under "At creation". A fixed number of queries
whatever the size of the history: a clock holds at most MAX_CUSTOMERS customers.
"""

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, Prefetch, QuerySet
from django.urls import reverse

from automations.models import Run, RunStep
from automations.selectors import OBJECT_URLS, step_label
from billing.models import (
    AdvanceStatus,
    ClockAdvance,
    Customer,
    Event,
    Invoice,
    Price,
    Quote,
    Subscription,
    TestClock,
    TestClockStatus,
)
from billing.payments.test_gateway import TEST_CARDS

# The badge colour of an advance's status, from the dashboard's existing badge styles (the clock's
# own status badge is the `status_badge` partial of test_clock_detail.html, in the same colours).
ADVANCE_BADGES = {
    AdvanceStatus.SUCCEEDED: "succeeded",
    AdvanceStatus.ADVANCING: "running",
    AdvanceStatus.FAILED: "failed",
}
EVENT_URLS = {"customer": "customer_detail", **OBJECT_URLS}


def clock_list() -> QuerySet[TestClock]:
    """Every clock, newest first, with its number of customers."""
    return TestClock.objects.annotate(customer_count=Count("customers"))


def clock_detail(public_id: str) -> TestClock:
    """The clock by its public id; raises TestClock.DoesNotExist."""
    return TestClock.objects.annotate(customer_count=Count("customers")).get(public_id=public_id)


@dataclass(frozen=True)
class Progress:
    advance: ClockAdvance
    frozen_time: datetime

    @property
    def fraction(self) -> float:
        """How far the clock is along its advance, 0 to 1: (frozen - from) / (to - from)."""
        span = (self.advance.to_time - self.advance.from_time).total_seconds()
        done = (self.frozen_time - self.advance.from_time).total_seconds()
        return min(max(done / span, 0.0), 1.0) if span > 0 else 1.0

    @property
    def percent(self) -> int:
        return int(self.fraction * 100)


def clock_progress(test_clock: TestClock) -> Progress | None:
    """The advance running now and how far it is, or None when the clock is not advancing."""
    if test_clock.status != TestClockStatus.ADVANCING:
        return None
    advance = test_clock.advances.filter(status=AdvanceStatus.ADVANCING).order_by("-requested_at", "-id").first()
    return Progress(advance=advance, frozen_time=test_clock.frozen_time) if advance else None


def clock_customers(test_clock: TestClock) -> list[Customer]:
    """The clock's customers, oldest first, with their subscriptions (and plans) and invoices."""
    return list(
        test_clock.customers.order_by("created", "id").prefetch_related(
            Prefetch(
                "subscriptions",
                queryset=Subscription.objects.order_by("created", "id").prefetch_related("items__price__product"),
            ),
            Prefetch("invoices", queryset=Invoice.objects.order_by("created", "id")),
        )
    )


def card_label(number: str) -> str:
    card = TEST_CARDS.get(number.replace(" ", "")) if number else None
    return f"…{number[-4:]} ({card.label.lower()})" if card else (f"…{number[-4:]}" if number else "None")


def subscribable_prices() -> QuerySet[Price]:
    """The prices a customer on a clock may subscribe to: active, recurring, of an active product."""
    return (
        Price.objects.filter(active=True, product__active=True)
        .exclude(interval="")
        .select_related("product")
        .order_by("product__name", "interval", "unit_amount", "id")
    )


def price_label(price: Price) -> str:
    """“Pro plan — 1,200.00 € a year”."""
    per = {"month": "a month", "year": "a year"}.get(price.interval, price.interval)
    nickname = f" ({price.nickname})" if price.nickname else ""
    return f"{price.product.name}{nickname} — {price.unit_amount} {per}"


def deletion_counts(test_clock: TestClock) -> dict[str, int]:
    """What deleting the clock would delete, by kind (customers, subscriptions, invoices, quotes,
    events, automation runs), as billing.services.test_clocks.clock_delete counts them."""
    on_clock = {"customer__test_clock": test_clock}
    return {
        "customers": test_clock.customers.count(),
        "subscriptions": Subscription.objects.filter(**on_clock).count(),
        "invoices": Invoice.objects.filter(**on_clock).count(),
        "quotes": Quote.objects.filter(**on_clock).count(),
        "events": Event.objects.filter(test_clock=test_clock).count(),
        "runs": Run.objects.filter(test_clock=test_clock).count(),
    }


# --- History ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventRow:
    event: Event
    url: str


@dataclass(frozen=True)
class RunRow:
    run: Run
    what: str  # "started" or "ended"
    at: datetime
    url: str
    object_url: str


@dataclass(frozen=True)
class StepRow:
    step: RunStep
    label: str
    run_url: str


@dataclass
class HistorySection:
    """What happened in one window of simulated time: an advance, or the clock's creation."""

    title: str
    advance: ClockAdvance | None = None
    events: list[EventRow] = field(default_factory=list)
    runs: list[RunRow] = field(default_factory=list)
    steps: list[StepRow] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.events or self.runs or self.steps)

    @property
    def badge(self) -> str:
        return ADVANCE_BADGES.get(self.advance.status, "") if self.advance else ""


def _object_url(kind: str, public_id: str) -> str:
    name = EVENT_URLS.get(kind)
    return reverse(name, args=[public_id]) if name else ""


def _run_url(run: Run) -> str:
    return reverse("run_detail", args=[run.automation.public_id, run.public_id])


def clock_history(test_clock: TestClock) -> list[HistorySection]:
    """What happened during each advance, newest first, then "At creation".

    1. Read the clock's advances, events, runs and executed steps (one query each).
    2. Put each item in the advance whose window (from_time, to_time] holds its simulated time;
       items at or before the first advance's start (or all, before any advance) go to "At creation".
    3. Order each section's items by time (runs: the moment they started or ended).
    """
    advances = list(test_clock.advances.select_related("requested_by").order_by("from_time", "id"))
    sections = [
        HistorySection(title=f"Advance {n}: {a.from_time:%Y-%m-%d %H:%M} → {a.to_time:%Y-%m-%d %H:%M} UTC", advance=a)
        for n, a in enumerate(advances, start=1)
    ]
    creation = HistorySection(title="At creation")

    def section_at(moment: datetime | None) -> HistorySection | None:
        if moment is None:
            return None
        for section in reversed(sections):
            if section.advance.from_time < moment <= section.advance.to_time:
                return section
        if not advances or moment <= advances[0].from_time:
            return creation
        return None  # after the clock's last advance: cannot be, the clock never went there

    for event in Event.objects.filter(test_clock=test_clock).order_by("created", "id"):
        if (section := section_at(event.created)) is not None:
            section.events.append(EventRow(event=event, url=_object_url(event.object_type, event.object_id)))

    runs = list(Run.objects.filter(test_clock=test_clock).select_related("automation").order_by("started_at", "id"))
    for run in runs:
        url, object_url = _run_url(run), _object_url(run.object_type, run.object_id)
        for what, at in (("started", run.started_at), ("ended", run.finished_at)):
            if (section := section_at(at)) is not None:
                section.runs.append(RunRow(run=run, what=what, at=at, url=url, object_url=object_url))
    steps = (
        RunStep.objects.filter(run__test_clock=test_clock, executed_at__isnull=False)
        .select_related("run__automation")
        .order_by("executed_at", "run_id", "position")
    )
    for step in steps:
        if (section := section_at(step.executed_at)) is not None:
            section.steps.append(StepRow(step=step, label=step_label(step), run_url=_run_url(step.run)))
    for section in [*sections, creation]:
        section.runs.sort(key=lambda row: (row.at, row.what != "started"))
    return [*reversed(sections), creation]
