"""The dry run (issue 14): which automation each trigger of an object would start now, every
filter's verdict, the step times (from now, or from the anchor date with passed steps skipped),
the end condition that already holds, and no write at all."""

from datetime import timedelta

import pytest
import time_machine
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from automations.engine.dry_run import draft_automation, draft_dry_run, dry_run, load_object, triggers_for
from billing.models import AccountSettings, TestClock
from tests.automations.test_engine import automation
from tests.factories import make_customer, make_invoice, make_price, make_quote, make_subscription

pytestmark = pytest.mark.django_db

NOW = timezone.now().replace(microsecond=0)
VOID = {"action": "void_invoice", "delay": {"amount": 0, "unit": "days"}, "params": {}}


def wait(days, action="void_invoice"):
    return {"action": action, "delay": {"amount": days, "unit": "days"}, "params": {}}


def around(days, direction, action):
    return {"action": action, "delay": {"amount": days, "unit": "days", "direction": direction}, "params": {}}


def customer_metadata(key, value):
    return {"type": "customer_metadata", "params": {"key": key, "value": value}}


def amount(low=None, high=None):
    return {"type": "invoice_amount", "params": {"min": low, "max": high}}


def plans_by_trigger(obj):
    return {plan.trigger.key: plan for plan in dry_run(load_object(obj._meta.model_name, obj.public_id))}


@pytest.fixture(autouse=True)
def _account(db):
    AccountSettings.load()  # the account row exists, as after the first page of the dashboard


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def test_it_lists_the_triggers_that_apply_to_each_kind_of_object():
    plain = make_invoice()
    due = make_invoice(due_date=NOW + timedelta(days=5))
    of_subscription = make_invoice(subscription=make_subscription(), due_date=NOW + timedelta(days=5))
    assert triggers_for(plain) == ["invoice.finalized", "invoice.overdue"]
    assert triggers_for(due) == ["invoice.due_date_upcoming", "invoice.finalized", "invoice.overdue"]
    assert "subscription.payment_failed" in triggers_for(of_subscription)
    assert triggers_for(make_subscription()) == [
        "subscription.canceled",
        "subscription.cancel_scheduled",
        "subscription.pause_scheduled",
    ]
    assert triggers_for(make_quote()) == ["quote.expiring"]


def test_it_checks_the_enabled_automations_in_priority_order_and_the_first_that_matches_wins():
    automation("invoice.overdue", [VOID], [customer_metadata("tier", "vip")], name="VIP", priority=1)
    automation("invoice.overdue", [VOID], name="Off", priority=2, enabled=False)
    everyone = automation("invoice.overdue", [wait(3)], name="Everyone", priority=3)
    automation("invoice.overdue", [VOID], name="Never reached", priority=4)
    invoice = make_invoice(customer=make_customer(metadata={"tier": "standard"}))

    plan = plans_by_trigger(invoice)["invoice.overdue"]

    assert [c.automation.name for c in plan.contenders] == ["VIP", "Everyone", "Never reached"]
    assert [c.matched for c in plan.contenders] == [False, True, True]
    assert plan.winner.automation == everyone and plan.would_start
    assert plan.contenders[0].verdicts[0].expected == "tier = vip"
    assert plan.contenders[0].verdicts[0].found == "tier = standard"


def test_it_shows_the_verdict_of_every_filter_not_only_the_first_that_fails():
    automation(
        "invoice.overdue", [VOID],
        [customer_metadata("tier", "vip"), amount(low="500")],
        name="Large VIP",
    )  # fmt: skip
    invoice = make_invoice(amount="100.00", customer=make_customer(metadata={"tier": "gold"}))

    [contender] = plans_by_trigger(invoice)["invoice.overdue"].contenders

    assert [(v.label, v.matched) for v in contender.verdicts] == [
        ("Customer metadata", False),
        ("Invoice amount", False),
    ]
    assert contender.verdicts[1].expected == "invoice amount at least 500 EUR"
    assert contender.verdicts[1].found == "100.00 EUR"
    assert not contender.matched


def test_relative_steps_run_from_now_one_after_the_other():
    automation("invoice.overdue", [wait(0, "send_team_email"), wait(3), wait(2, "mark_invoice_uncollectible")])
    plan = plans_by_trigger(make_invoice())["invoice.overdue"]
    assert [step.at for step in plan.winner.steps] == [NOW, NOW + timedelta(days=3), NOW + timedelta(days=5)]
    assert not any(step.passed for step in plan.winner.steps)


def test_anchored_steps_run_around_the_anchor_date_and_passed_ones_would_be_skipped():
    due = NOW + timedelta(days=10)
    automation(
        "invoice.due_date_upcoming",
        [
            around(20, "before", "send_invoice_will_be_due_webhook"),
            around(3, "before", "send_invoice_will_be_due_webhook"),
            around(1, "after", "send_team_email"),
        ],
    )
    plan = plans_by_trigger(make_invoice(due_date=due))["invoice.due_date_upcoming"]
    assert plan.anchor == due
    assert [(step.at, step.passed) for step in plan.winner.steps] == [
        (due - timedelta(days=20), True),
        (due - timedelta(days=3), False),
        (due + timedelta(days=1), False),
    ]
    assert plan.would_start and not plan.all_steps_passed


def test_a_scheduled_cancellation_anchors_its_steps_at_the_cancellation_date():
    cancel_at = NOW + timedelta(days=30)
    automation("subscription.cancel_scheduled", [around(7, "before", "send_custom_event_webhook")])
    plan = plans_by_trigger(make_subscription(cancel_at=cancel_at))["subscription.cancel_scheduled"]
    assert plan.would_start
    assert [step.at for step in plan.winner.steps] == [cancel_at - timedelta(days=7)]


def test_it_would_not_start_when_the_end_condition_already_holds():
    automation("invoice.overdue", [VOID], name="Chase")
    plan = plans_by_trigger(make_invoice(status="paid"))["invoice.overdue"]
    assert plan.winner is not None and plan.winner.automation.name == "Chase"
    assert plan.ending is not None and plan.ending.already == "invoice already paid"
    assert not plan.would_start


def test_a_date_anchored_trigger_without_its_date_would_not_start():
    automation("quote.expiring", [around(2, "before", "send_quote_will_expire_webhook")])
    plan = plans_by_trigger(make_quote(expires_at=None))["quote.expiring"]
    assert plan.missing_anchor and not plan.would_start and plan.winner.steps == []


def test_no_enabled_automation_means_no_contender():
    plan = plans_by_trigger(make_invoice())["invoice.finalized"]
    assert plan.contenders == [] and plan.winner is None and not plan.would_start


def test_the_interval_filter_reads_the_invoices_subscription():
    yearly = make_subscription(price=make_price(interval="year"))
    automation(
        "subscription.payment_failed", [wait(0, "mark_subscription_unpaid")],
        [{"type": "subscription_interval", "params": {"interval": "month"}}], name="Monthly",
    )  # fmt: skip
    plan = plans_by_trigger(make_invoice(subscription=yearly))["subscription.payment_failed"]
    [verdict] = plan.contenders[0].verdicts
    assert (verdict.expected, verdict.found, verdict.matched) == ("interval is monthly", "yearly", False)


def test_a_draft_is_checked_after_the_automations_placed_above_it():
    above = automation("invoice.overdue", [VOID], [customer_metadata("tier", "vip")], name="VIP")
    draft = draft_automation(name="Draft", trigger="invoice.overdue", filters=[amount(high="200")], steps=[wait(1)])
    invoice = load_object("invoice", make_invoice(amount="150.00").public_id)

    plan = draft_dry_run(invoice, draft, above=[above])

    assert [c.is_draft for c in plan.contenders] == [False, True]
    assert plan.winner.is_draft and plan.would_start
    assert [step.at for step in plan.winner.steps] == [NOW + timedelta(days=1)]


def test_an_object_on_a_test_clock_is_dry_run_at_the_clocks_time():
    frozen = NOW + timedelta(days=100)
    test_clock = TestClock.objects.create(name="Annual", frozen_time=frozen)
    automation("invoice.overdue", [wait(2)])
    invoice = make_invoice(customer=make_customer(test_clock=test_clock))
    plan = plans_by_trigger(invoice)["invoice.overdue"]
    assert plan.now == frozen
    assert plan.winner.steps[0].at == frozen + timedelta(days=2)


def _row_counts() -> dict[str, int]:
    return {model._meta.label: model.objects.count() for model in apps.get_models()}


def test_a_dry_run_writes_nothing():
    automation("invoice.overdue", [VOID], [amount(low="10")], name="Chase")
    automation("invoice.due_date_upcoming", [around(20, "before", "send_invoice_will_be_due_webhook")])
    automation("subscription.payment_failed", [wait(0, "mark_subscription_unpaid")])
    invoice = make_invoice(subscription=make_subscription(), due_date=NOW + timedelta(days=3))
    before = _row_counts()

    with CaptureQueriesContext(connection) as queries:
        plans = dry_run(load_object("invoice", invoice.public_id))

    assert len(plans) == 4
    statements = [q["sql"].lstrip().upper() for q in queries.captured_queries]
    assert statements and all(sql.startswith("SELECT") for sql in statements), statements
    assert _row_counts() == before
