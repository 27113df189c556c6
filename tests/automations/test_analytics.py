"""Recovery analytics on a hand-built dataset whose every figure is known.

Two weeks, Monday 2 March to Sunday 15 March 2026, in EUR (the default currency); 1 EUR = 1.25
USD is stored; GBP has no rate. Automation A (subscription payment fails: versions 1 and 2, runs
on the invoices' subscriptions) and B (invoice overdue, runs on the invoices).

    inv  amount   first failure (decline)  other                       paid     recovered by
    1    100 EUR  3 Mar (hard)                                          5 Mar    A v1 (ended at paid)
    2    200 EUR  4 Mar (soft)             B's run completed 8 Mar      10 Mar   A v2 (still active)
    3    125 USD  9 Mar (soft)                                          12 Mar   no automation
    4     50 EUR  —                        overdue 3 Mar                11 Mar   B v1
    5     80 EUR  5 Mar (hard)             voided 12 Mar: lost
    6     60 EUR  10 Mar (not recorded)    uncollectible 13 Mar: lost
    7     40 GBP  11 Mar (soft)                                            14 Mar   A v2 (not converted)
    8    300 EUR  20 Feb (soft)                                         6 Mar    no automation
    9     70 EUR  12 Mar (soft)            still open
    10    90 EUR  —                                                     6 Mar    (never in trouble)
    11  1000 EUR  14 Mar (hard)                                         20 Mar   (after the period)
    12    30 EUR  —                        voided 10 Mar (never failed: not lost)
"""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from moneyed import Money

from automations.analytics import (
    Period,
    PeriodError,
    automation_recovery,
    last_days,
    parse_period,
    recovery_report,
)
from automations.models import AutomationVersion, Run
from billing.models import Event, PaymentAttempt
from billing.services.exchange_rates import exchange_rate_set
from tests.automations.test_engine import automation
from tests.factories import make_invoice, make_subscription

pytestmark = pytest.mark.django_db

PERIOD = Period(date(2026, 3, 2), date(2026, 3, 15))


def at(day: int, month: int = 3, hour: int = 12) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def _fail(invoice, when, decline="soft", number=1):
    PaymentAttempt.objects.create(
        invoice=invoice,
        created=when,
        attempt_number=number,
        amount=invoice.total,
        outcome="failed",
        failure_code="card_declined",
        decline_type=decline,
    )


def _run(auto, version, obj, started, finished=None, status="active"):
    object_type = obj._meta.model_name
    event = Event.objects.create(
        type="invoice.payment_failed", created=started, object_type=object_type, object_id=obj.public_id, data_object={}
    )
    return Run.objects.create(
        automation=auto,
        version=version,
        trigger=auto.trigger,
        event=event,
        object_type=object_type,
        object_id=obj.public_id,
        status=status,
        started_at=started,
        finished_at=finished,
    )


def _invoice(amount, currency="EUR", *, failed=None, decline="soft", status="open", **fields):
    invoice = make_invoice(status=status, amount=amount, currency=currency, first_failed_at=failed, **fields)
    if status == "paid":
        invoice.amount_paid = Money(amount, currency)
        invoice.save(update_fields=["amount_paid"])
    if failed:
        _fail(invoice, failed, decline)
    return invoice


@pytest.fixture
def dataset():
    """The table of the module's docstring; returns the automations (A, B)."""
    exchange_rate_set(currency="USD", value="1.25")
    a = automation("subscription.payment_failed", [], name="Chase failed payments")
    a_v1 = a.current_version
    a_v2 = AutomationVersion.objects.create(automation=a, number=2)
    a.current_version = a_v2
    a.save(update_fields=["current_version"])
    b = automation("invoice.overdue", [], name="Overdue reminders")

    sub1, sub2, sub5, sub7 = (make_subscription() for _ in range(4))
    _invoice("100.00", failed=at(3), decline="hard", status="paid", paid_at=at(5), subscription=sub1)
    _run(a, a_v1, sub1, at(3), finished=at(5), status="ended")
    inv2 = _invoice("200.00", failed=at(4), status="paid", paid_at=at(10), subscription=sub2)
    _fail(inv2, at(6), "hard", number=2)  # a later failure: the first one's type counts
    _run(b, b.current_version, inv2, at(1), finished=at(8), status="completed")
    _run(a, a_v2, sub2, at(4))
    _invoice("125.00", "USD", failed=at(9), status="paid", paid_at=at(12))
    inv4 = _invoice("50.00", overdue_at=at(3), status="paid", paid_at=at(11))
    _run(b, b.current_version, inv4, at(3), finished=at(11), status="ended")
    _invoice("80.00", failed=at(5), decline="hard", status="void", voided_at=at(12), subscription=sub5)
    _run(a, a_v2, sub5, at(5), finished=at(12), status="ended")
    _invoice("60.00", failed=at(10), decline="", status="uncollectible", marked_uncollectible_at=at(13))
    _invoice("40.00", "GBP", failed=at(11), status="paid", paid_at=at(14), subscription=sub7)
    _run(a, a_v2, sub7, at(11))
    _invoice("300.00", failed=at(20, 2), status="paid", paid_at=at(6))
    _invoice("70.00", failed=at(12))
    _invoice("90.00", status="paid", paid_at=at(6))
    _invoice("1000.00", failed=at(14), decline="hard", status="paid", paid_at=at(20))
    _invoice("30.00", status="void", voided_at=at(10))
    return a, b


def figures(figure) -> tuple:
    return figure.count, figure.rounded, figure.not_converted


def test_it_counts_the_invoices_whose_first_failure_is_in_the_period(dataset):
    report = recovery_report(PERIOD)
    # 1, 2, 3 (125 USD = 100 EUR), 5, 6, 7 (GBP: counted, not converted), 9, 11; not 8 (failed before).
    assert figures(report.failed) == (8, Decimal("1610.00"), 1)


def test_it_counts_invoices_paid_in_the_period_after_a_failure_or_while_overdue_as_recovered(dataset):
    report = recovery_report(PERIOD)
    # 1, 2, 3, 4 (overdue), 7 (GBP), 8 (failed before the period); not 10 (no trouble), not 11 (paid after).
    assert figures(report.recovered) == (6, Decimal("750.00"), 1)
    assert report.currency == "EUR"
    assert report.not_converted == ["GBP"]


def test_it_rates_recovery_as_the_share_of_failed_invoices_paid_since(dataset):
    report = recovery_report(PERIOD)
    assert figures(report.failed_paid) == (5, Decimal("1400.00"), 1)  # 1, 2, 3, 7, 11
    assert report.rate.by_count == Decimal("62.5")  # 5 / 8
    assert report.rate.by_amount == Decimal("87.0")  # 1400 / 1610


def test_it_takes_the_median_days_from_the_first_trouble_to_payment(dataset):
    # Waits 2, 6, 3, 8, 3, 14 days: sorted 2 3 3 | 6 8 14, the median is (3 + 6) / 2.
    assert recovery_report(PERIOD).median_days == Decimal("4.5")


def test_it_counts_invoices_voided_or_uncollectible_after_a_failure_as_lost(dataset):
    # 5 (voided) and 6 (uncollectible); not 12, voided without a failure.
    assert figures(recovery_report(PERIOD).lost) == (2, Decimal("140.00"), 0)


def test_it_credits_each_recovery_to_the_run_active_on_the_invoice_when_it_was_paid(dataset):
    rows = [(r.label, *figures(r.recovered)) for r in recovery_report(PERIOD).by_automation]
    assert rows == [
        ("Chase failed payments v2", 2, Decimal("200.00"), 1),  # 2 and 7, through their subscriptions
        ("Chase failed payments v1", 1, Decimal("100.00"), 0),
        ("Overdue reminders v1", 1, Decimal("50.00"), 0),
        ("No automation", 2, Decimal("400.00"), 0),  # 3 and 8
    ]


def test_it_splits_recoveries_by_trigger(dataset):
    rows = [(r.label, *figures(r.recovered)) for r in recovery_report(PERIOD).by_trigger]
    assert rows == [
        ("Subscription payment fails", 3, Decimal("300.00"), 1),
        ("Invoice is overdue", 1, Decimal("50.00"), 0),
        ("No automation", 2, Decimal("400.00"), 0),
    ]


def test_it_splits_failures_by_the_decline_type_of_the_first_failed_attempt(dataset):
    rows = [
        (r.label, *figures(r.failed), *figures(r.recovered), r.rate.by_count)
        for r in recovery_report(PERIOD).by_decline
    ]
    assert rows == [
        ("Hard decline", 3, Decimal("1180.00"), 0, 2, Decimal("1100.00"), 0, Decimal("66.7")),  # 1, 5, 11
        ("Soft decline", 4, Decimal("370.00"), 1, 3, Decimal("300.00"), 1, Decimal("75.0")),  # 2, 3, 7, 9
        ("Not recorded", 1, Decimal("60.00"), 0, 0, Decimal("0.00"), 0, Decimal("0.0")),  # 6
    ]


def test_it_gives_a_weekly_series_of_every_week_of_the_period(dataset):
    weeks = [(w.start, figures(w.failed), figures(w.recovered), figures(w.lost)) for w in recovery_report(PERIOD).weeks]
    assert weeks == [
        (date(2026, 3, 2), (3, Decimal("380.00"), 0), (2, Decimal("400.00"), 0), (0, Decimal("0.00"), 0)),
        (date(2026, 3, 9), (5, Decimal("1230.00"), 1), (4, Decimal("350.00"), 1), (2, Decimal("140.00"), 0)),
    ]


def test_it_shows_an_automation_what_its_runs_recovered_by_version(dataset):
    a, b = dataset
    panel = automation_recovery(a, PERIOD)
    assert figures(panel.total) == (3, Decimal("300.00"), 1)
    assert [(r.label, *figures(r.recovered)) for r in panel.by_version] == [
        ("v2", 2, Decimal("200.00"), 1),
        ("v1", 1, Decimal("100.00"), 0),
    ]
    assert panel.not_converted == ["GBP"]
    assert figures(automation_recovery(b, PERIOD).total) == (1, Decimal("50.00"), 0)


def test_it_reports_nothing_for_a_quiet_period(dataset):
    report = recovery_report(Period(date(2025, 1, 6), date(2025, 1, 12)))
    assert figures(report.failed) == figures(report.recovered) == (0, Decimal("0.00"), 0)
    assert report.median_days is None and report.rate.by_count is None
    assert report.by_automation == [] and len(report.weeks) == 1


def test_the_period_reads_dates_or_a_preset():
    today = date(2026, 3, 15)
    assert parse_period({}, today) == Period(date(2026, 2, 14), today)
    assert parse_period({"days": "90"}, today).days == 90
    assert parse_period({"from": "2026-03-02", "to": "2026-03-15"}) == PERIOD
    assert last_days(365, today).first == date(2025, 3, 16)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"days": "7"}, "Choose a period of 30, 90, 365 days"),
        ({"from": "2026-03-02"}, "Enter both dates"),
        ({"from": "2026-03-15", "to": "2026-03-02"}, "is before its start"),
        ({"from": "2026-02-30", "to": "2026-03-02"}, "as YYYY-MM-DD"),
        ({"from": "1999-12-31", "to": "2026-03-02"}, "between 2000 and 9000"),
        ({"from": "2000-01-01", "to": "2026-03-02"}, "at most 3660 days"),
    ],
)
def test_the_period_refuses_what_it_cannot_show(params, message):
    with pytest.raises(PeriodError, match=message):
        parse_period(params)
