"""The backtest engine (automations.engine.backtest) and its service: recorded events replayed
through the matching as if an automation had been at its place, on the events' snapshots, writing
nothing to billing or runs."""

from datetime import timedelta

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone

from automations.engine.backtest import Candidate, backtest, place_in
from automations.engine.matching import in_priority_order
from automations.models import Backtest, HandledEvent, MatchingRecord, Run, RunStep
from automations.services import backtests
from billing.events import record_event
from billing.models import Customer, Event, Invoice
from tests.automations.test_engine import automation
from tests.factories import make_customer, make_invoice, make_price, make_subscription

pytestmark = pytest.mark.django_db

VIP = [{"type": "customer_metadata", "params": {"key": "segment", "value": "vip"}}]
AT_LEAST_100 = [{"type": "invoice_amount", "params": {"min": "100.00", "max": None}}]


def memo(days: int) -> dict:
    params = {"recipient": "collections@team.example", "message": "Overdue {number}"}
    return {"action": "send_team_email", "delay": {"amount": days, "unit": "days"}, "params": params}


def void(days: int) -> dict:
    return {"action": "void_invoice", "delay": {"amount": days, "unit": "days"}, "params": {}}


def record(type: str, obj, days_ago: float, before: dict | None = None) -> Event:
    with time_machine.travel(timezone.now() - timedelta(days=days_ago), tick=False), transaction.atomic():
        return record_event(type=type, obj=obj, before=before)


def overdue(days_ago: float, *, segment: str = "", amount: str = "120.00") -> Invoice:
    customer = make_customer(metadata={"segment": segment} if segment else {})
    invoice = make_invoice(customer=customer, amount=amount)
    record("invoice.overdue", invoice, days_ago)
    return invoice


def paid(invoice: Invoice, days_ago: float) -> None:
    Invoice.objects.filter(pk=invoice.pk).update(status="paid")
    invoice.refresh_from_db()
    record("invoice.paid", invoice, days_ago)


def run(auto, days: int = 30) -> dict:
    candidate = Candidate.of_automation(auto)
    higher = place_in(candidate, in_priority_order(auto.trigger), priority=(auto.priority, auto.pk))
    now = timezone.now()
    return backtest(candidate, higher, since=now - timedelta(days=days), until=now)


def test_it_counts_the_runs_it_would_start_and_those_the_higher_automations_take():
    vips = automation("invoice.overdue", [void(1)], filters=VIP, name="VIP desk")
    tested = automation("invoice.overdue", [memo(1)], name="Everyone")
    automation("invoice.overdue", [void(1)], name="Below it")
    vip = overdue(5, segment="vip")
    others = [overdue(4), overdue(3)]
    result = run(tested)
    assert result["opportunities"]["count"] == 3
    assert result["started"] == {"count": 2, "objects": [i.public_id for i in others]}
    assert result["taken"] == [
        {"automation": vips.public_id, "name": "VIP desk", "count": 1, "objects": [vip.public_id]}
    ]
    assert result["place"] == 2 and [a["name"] for a in result["higher"]] == ["VIP desk"]


def test_it_says_which_filter_did_not_match_on_the_events_snapshot():
    tested = automation("invoice.overdue", [memo(1)], filters=AT_LEAST_100, name="Large")
    small = overdue(3, amount="50.00")
    Invoice.objects.filter(pk=small.pk).update(total=500)  # today it is large: the snapshot says 50
    large = overdue(2, amount="150.00")
    result = run(tested)
    assert result["started"]["objects"] == [large.public_id]
    assert result["not_matched"] == {"count": 1, "objects": [small.public_id]}
    assert result["failed_filters"] == [{"filter": "Invoice amount", "count": 1, "objects": [small.public_id]}]


def test_it_reads_the_customers_metadata_as_it_was_when_the_event_was_recorded():
    tested = automation("invoice.overdue", [memo(1)], filters=VIP, name="VIP")
    customer = make_customer(metadata={"segment": "vip"})
    record("customer.created", customer, 20)
    invoice = make_invoice(customer=customer)
    record("invoice.overdue", invoice, 10)
    Customer.objects.filter(pk=customer.pk).update(metadata={"segment": "smb"})
    customer.refresh_from_db()
    record("customer.updated", customer, 5)
    result = run(tested)
    assert result["started"]["objects"] == [invoice.public_id]


def test_it_counts_how_many_of_each_step_would_have_run_and_which_are_still_to_come():
    tested = automation("invoice.overdue", [memo(1), void(10)], name="Chase")
    old, recent = overdue(20), overdue(5)
    result = run(tested)
    first, second = result["steps"]
    assert (first["action"], first["ran"]["count"]) == ("send_team_email", 2)
    assert (second["label"], second["ran"]["objects"], second["pending"]["objects"]) == (
        "Void invoice", [old.public_id], [recent.public_id],
    )  # fmt: skip
    assert result["completed"]["objects"] == [old.public_id]
    assert result["in_progress"]["objects"] == [recent.public_id]


def test_a_later_invoice_paid_event_ends_the_run_early_and_its_later_steps_never_run():
    tested = automation("invoice.overdue", [memo(1), void(18)], name="Chase")
    invoice = overdue(20)
    paid(invoice, 5)
    on_time = overdue(25)
    paid(on_time, 1)  # after its last step (7 days ago): that run had completed
    result = run(tested)
    assert result["ended_early"] == {"count": 1, "objects": [invoice.public_id]}
    assert result["end_reasons"] == [{"reason": "invoice paid", "count": 1, "objects": [invoice.public_id]}]
    assert result["steps"][0]["ran"]["count"] == 2
    assert result["steps"][1]["canceled"]["objects"] == [invoice.public_id]
    assert result["steps"][1]["ran"]["objects"] == [on_time.public_id]
    assert result["completed"]["objects"] == [on_time.public_id]


def test_it_replays_only_the_events_of_the_window():
    tested = automation("invoice.overdue", [memo(1)], name="Chase")
    overdue(40)
    recent = overdue(10)
    assert run(tested, days=30)["started"]["objects"] == [recent.public_id]
    assert run(tested, days=60)["started"]["count"] == 2


def test_a_draft_goes_last_or_at_its_chosen_place():
    first = automation("invoice.overdue", [memo(1)], name="First")
    second = automation("invoice.overdue", [memo(1)], name="Second")
    draft = Candidate.draft(name="Draft", trigger="invoice.overdue", filters=[], steps=[memo(1)])
    ordered = in_priority_order("invoice.overdue")
    assert place_in(draft, ordered) == [first, second]
    assert place_in(draft, ordered, place_before=second.public_id) == [first]
    assert place_in(draft, ordered, place_before="") == [first, second]
    overdue(3)
    now = timezone.now()
    result = backtest(draft, [], since=now - timedelta(days=30), until=now)
    assert result["started"]["count"] == 1


def test_only_the_first_failed_payment_of_a_subscription_invoice_starts_a_run():
    tested = automation("subscription.payment_failed", [memo(1)], name="Dunning")
    subscription = make_subscription(price=make_price(interval="year"))
    invoice = make_invoice(customer=subscription.customer, subscription=subscription)
    record("invoice.payment_failed", invoice, 6)
    record("invoice.payment_failed", invoice, 3)
    one_off = make_invoice()
    record("invoice.payment_failed", one_off, 2)
    result = run(tested)
    assert result["opportunities"]["count"] == 1
    assert result["started"]["objects"] == [invoice.public_id]


def test_a_yearly_filter_reads_the_invoices_subscription_interval_as_recorded_then():
    yearly = [{"type": "subscription_interval", "params": {"interval": "year"}}]
    tested = automation("subscription.payment_failed", [memo(1)], filters=yearly, name="Annual")
    annual = make_subscription(price=make_price(interval="year"))
    monthly = make_subscription(price=make_price(interval="month"))
    record("customer.subscription.created", monthly, 20)
    monthly.items.update(price=make_price(interval="year"))  # yearly today: monthly when it failed
    wanted = make_invoice(customer=annual.customer, subscription=annual)
    other = make_invoice(customer=monthly.customer, subscription=monthly)
    record("invoice.payment_failed", wanted, 3)
    record("invoice.payment_failed", other, 2)
    result = run(tested)
    assert result["started"]["objects"] == [wanted.public_id]
    assert result["failed_filters"][0]["objects"] == [other.public_id]


def test_an_anchored_step_whose_time_had_passed_is_counted_as_skipped():
    before = {
        "action": "send_invoice_will_be_due_webhook",
        "delay": {"amount": 3, "unit": "days", "direction": "before"},
    }
    tested = automation("invoice.due_date_upcoming", [before | {"params": {}}], name="Remind")
    invoice = make_invoice(due_date=timezone.now() - timedelta(days=9))
    record("invoice.finalized", invoice, 10)  # due the next day: three days before had passed
    result = run(tested)
    assert result["started"]["count"] == 1
    assert result["steps"][0]["skipped"]["objects"] == [invoice.public_id]


def test_the_backtest_writes_nothing_to_billing_or_runs(django_capture_on_commit_callbacks):
    tested = automation("invoice.overdue", [memo(1), void(18)], name="Chase")
    invoice = overdue(20)
    paid(invoice, 5)
    counts = [m.objects.count() for m in (Run, RunStep, MatchingRecord, HandledEvent, Event, Invoice)]
    with django_capture_on_commit_callbacks(execute=True):
        started = backtests.backtest_automation(automation=tested, days=30)
    assert [m.objects.count() for m in (Run, RunStep, MatchingRecord, HandledEvent, Event, Invoice)] == counts
    invoice.refresh_from_db()
    assert invoice.status == "paid"
    assert (started.status, started.progress, started.result["ended_early"]["count"]) == ("done", 100, 1)


def test_a_large_history_runs_on_the_worker_with_its_progress(django_capture_on_commit_callbacks, settings):
    tested = automation("invoice.overdue", [memo(1)], name="Chase")
    for days_ago in (3, 2, 1):
        overdue(days_ago)
    settings.BACKTEST_INLINE_EVENTS = 1
    with django_capture_on_commit_callbacks() as callbacks:
        started = backtests.backtest_automation(automation=tested, days=30)
    assert Backtest.objects.get(pk=started.pk).status == "queued"
    for callback in callbacks:
        callback()  # the worker (django-q2 in sync mode in the tests)
    started.refresh_from_db()
    assert (started.status, started.progress, started.result["started"]["count"]) == ("done", 100, 3)


def test_a_task_delivered_twice_leaves_a_finished_backtest_as_it_is():
    tested = automation("invoice.overdue", [memo(1)], name="Chase")
    started = backtests.backtest_automation(automation=tested, days=30)
    finished = started.finished
    backtests.run_backtest(started.pk)
    started.refresh_from_db()
    assert (started.status, started.finished) == ("done", finished)


@pytest.mark.parametrize("raw", ["0", "366", "-1", "ten", "", "1.5"])
def test_it_refuses_a_number_of_days_outside_1_to_365(raw):
    with pytest.raises(backtests.BacktestError, match="from 1 to 365"):
        backtests.clean_days(raw)


def test_a_window_with_more_events_than_a_backtest_replays_is_refused(settings):
    tested = automation("invoice.overdue", [memo(1)], name="Chase")
    overdue(3)
    overdue(2)
    settings.BACKTEST_MAX_EVENTS = 1
    with pytest.raises(backtests.BacktestError, match="hold 2 invoice events, more than a backtest replays"):
        backtests.backtest_automation(automation=tested, days=30)
    assert not Backtest.objects.exists()


def test_a_product_filter_reads_the_products_of_the_snapshots_lines_and_items():
    pro = make_price(name="Pro plan")
    wanted = [{"type": "product", "params": {"products": [pro.product.public_id]}}]
    on_invoices = automation("invoice.overdue", [memo(1)], filters=wanted, name="Pro invoices")
    with_pro, without = make_invoice(), make_invoice()
    with_pro.lines.update(product=pro.product)
    record("invoice.overdue", with_pro, 3)
    record("invoice.overdue", without, 2)
    result = run(on_invoices)
    assert result["started"]["objects"] == [with_pro.public_id]
    assert result["failed_filters"] == [{"filter": "Product", "count": 1, "objects": [without.public_id]}]

    on_subscriptions = automation("subscription.canceled", [memo(1)], filters=wanted, name="Pro cancellations")
    canceled = make_subscription(price=pro, status="canceled")
    record("customer.subscription.deleted", canceled, 1)
    record("customer.subscription.deleted", make_subscription(status="canceled"), 1)
    assert run(on_subscriptions)["started"]["objects"] == [canceled.public_id]


def test_a_due_date_moved_later_moves_the_steps_still_to_come():
    from billing.serializers import snapshot

    before_due = {"action": "send_invoice_will_be_due_webhook", "params": {},
                  "delay": {"amount": 1, "unit": "days", "direction": "before"}}  # fmt: skip
    tested = automation("invoice.due_date_upcoming", [before_due], name="Remind")
    kept, moved = (make_invoice(due_date=timezone.now() - timedelta(days=7)) for _ in range(2))
    record("invoice.finalized", kept, 10)
    record("invoice.finalized", moved, 10)
    earlier = snapshot(moved)
    Invoice.objects.filter(pk=moved.pk).update(due_date=timezone.now() + timedelta(days=2))
    moved.refresh_from_db()
    record("invoice.updated", moved, 9, before=earlier)
    step = run(tested)["steps"][0]
    assert (step["ran"]["objects"], step["pending"]["objects"]) == ([kept.public_id], [moved.public_id])
