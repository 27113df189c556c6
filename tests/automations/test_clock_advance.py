"""A test clock's advance walks its customers through time: billing and the automations at
every moment something is due, at simulated times, leaving real-time objects alone."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from automations.engine import clockwork
from automations.engine.dispatch import claim_due
from automations.models import Run, RunStatus, RunStep, StepStatus
from automations.services.definitions import automation_create
from automations.services.test_clocks import advance_clock
from billing import clock, jobs, services
from billing.models import (
    AdvanceStatus,
    Event,
    Invoice,
    InvoiceStatus,
    SubscriptionStatus,
    TestClock,
)
from billing.models import TestClockStatus as ClockStatus
from billing.services.test_clocks import ClockError, clock_create, clock_delete
from notifications.models import EmailStatus, OutboundEmail, WebhookDelivery
from notifications.services.endpoints import endpoint_create
from tests.factories import DECLINED_CARD, make_invoice, make_price

pytestmark = pytest.mark.django_db

START = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
NOW = {"amount": 0, "unit": "days"}
POLICY = {
    "name": "Annual: 3 retries within 21 days",
    "schedule_kind": "within_days",
    "max_retries": 3,
    "within_days": 21,
    "end_behavior": "leave_past_due",
}


def dunning(memo_to: str = "collections@relance.example"):
    return automation_create(
        name="Annual subscriber dunning",
        trigger="subscription.payment_failed",
        filters=[{"type": "subscription_interval", "params": {"interval": "year"}}],
        steps=[
            {"action": "set_retry_policy", "delay": NOW, "params": {"new_policy": POLICY}},
            {"action": "send_team_email", "delay": NOW, "params": {"recipient": memo_to, "message": "Retries over"}},
            {"action": "cancel_subscription", "delay": {"amount": 7, "unit": "days"}, "params": {}},
            {"action": "mark_invoice_uncollectible", "delay": NOW, "params": {}},
        ],
    )


def declining_customer_on(test_clock: TestClock, capture):
    with capture(execute=True):
        customer = services.customer_create(
            name="Clocked Ltd", email="billing@clocked.example", default_payment_method=DECLINED_CARD,
            test_clock=test_clock,
        )  # fmt: skip
        price = make_price("1200.00", interval="year", name="Pro plan (yearly)")
        subscription = services.subscription_create(customer=customer, items=[(price, 1)])
    return customer, subscription


def advance(capture, **kwargs):
    """Request an advance; its task runs when the request commits (django-q2 in sync mode)."""
    with capture(execute=True):
        return advance_clock(**kwargs)


@pytest.fixture
def team_domain():
    from billing.models import AccountSettings

    account = AccountSettings.load()
    account.team_email_domains = ["relance.example"]
    account.save()


def test_a_customer_on_a_clock_lives_at_the_clocks_time(django_capture_on_commit_callbacks):
    test_clock = clock_create(name="Rehearsal", frozen_time=START)
    customer, subscription = declining_customer_on(test_clock, django_capture_on_commit_callbacks)
    assert customer.created == START
    assert clock.now(customer=customer) == START
    assert subscription.current_period_start == START
    invoice = subscription.invoices.get()
    assert invoice.status == InvoiceStatus.OPEN and invoice.attempt_count == 1
    assert invoice.payment_attempts.get().created == START
    events = Event.objects.filter(customer_id=customer.public_id)
    assert {e.created for e in events} == {START}
    assert set(events.values_list("test_clock", flat=True)) == {test_clock.public_id}
    assert invoice.customer.test_clock_id == test_clock.public_id


def test_advancing_40_days_runs_the_retries_the_wait_the_cancellation_at_simulated_times(
    team_domain, django_capture_on_commit_callbacks
):
    dunning()
    test_clock = clock_create(name="Rehearsal", frozen_time=START)
    _, subscription = declining_customer_on(test_clock, django_capture_on_commit_callbacks)
    run = Run.objects.get()
    assert run.test_clock_id == test_clock.public_id and run.started_at == START

    advance_row = advance(
        django_capture_on_commit_callbacks, test_clock=test_clock, to=START + timedelta(days=40)
    )  # sync: walked at once

    advance_row.refresh_from_db()
    test_clock.refresh_from_db()
    assert advance_row.status == AdvanceStatus.SUCCEEDED and advance_row.moments > 4
    assert test_clock.status == ClockStatus.READY and test_clock.frozen_time == START + timedelta(days=40)
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED
    steps = list(run.steps.order_by("position"))
    assert [s.status for s in steps] == [StepStatus.SUCCEEDED] * 4
    invoice = subscription.invoices.get()
    retries = list(invoice.payment_attempts.order_by("created").values_list("created", flat=True))
    assert len(retries) == 4  # the first attempt and 3 retries, all in simulated time
    assert START < retries[1] < retries[2] < retries[3] <= START + timedelta(days=21)
    # The run waited for the policy's last retry, then 7 days, then canceled and wrote off.
    assert retries[3] <= steps[0].executed_at <= retries[3] + timedelta(minutes=5)
    assert steps[2].executed_at == steps[1].executed_at + timedelta(days=7)
    assert steps[3].executed_at == steps[2].executed_at
    subscription.refresh_from_db()
    invoice.refresh_from_db()
    assert subscription.status == SubscriptionStatus.CANCELED and subscription.canceled_at == steps[2].executed_at
    assert invoice.status == InvoiceStatus.UNCOLLECTIBLE
    assert invoice.marked_uncollectible_at == steps[3].executed_at


def test_a_clocks_emails_are_recorded_as_simulated_and_not_sent(
    team_domain, mailoutbox, django_capture_on_commit_callbacks
):
    dunning()
    test_clock = clock_create(name="Rehearsal", frozen_time=START)
    declining_customer_on(test_clock, django_capture_on_commit_callbacks)
    advance(django_capture_on_commit_callbacks, test_clock=test_clock, to=START + timedelta(days=30))
    email = OutboundEmail.objects.get()
    assert email.status == EmailStatus.SIMULATED and email.test_clock_id == test_clock.public_id
    assert START < email.created <= START + timedelta(days=30)
    assert mailoutbox == []


def test_a_clocks_webhooks_carry_the_clock_id_and_livemode_false(settings, django_capture_on_commit_callbacks):
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    endpoint_create(url="http://127.0.0.1:9/hook", enabled_events=["invoice.payment_failed"])
    test_clock = clock_create(name="Rehearsal", frozen_time=START)
    declining_customer_on(test_clock, django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get(event_type="invoice.payment_failed")
    payload = json.loads(delivery.body)
    assert payload["livemode"] is False
    assert payload["data"]["object"]["test_clock"] == test_clock.public_id


def test_real_time_jobs_and_the_dispatcher_leave_clock_objects_alone(team_domain, django_capture_on_commit_callbacks):
    dunning()
    test_clock = clock_create(name="Rehearsal", frozen_time=START - timedelta(days=400))
    declining_customer_on(test_clock, django_capture_on_commit_callbacks)
    real = make_invoice(due_date=clock.now() - timedelta(days=1))
    clocked = make_invoice(due_date=START - timedelta(days=390))
    clocked.customer.test_clock = test_clock
    clocked.customer.save()
    # Real time is far past the clock's renewals, retries, due dates and steps: none of them run.
    for job in jobs.JOBS.values():
        job()
    assert set(Invoice.objects.filter(overdue_at__isnull=False).values_list("pk", flat=True)) == {real.pk}
    assert claim_due() == []
    assert RunStep.objects.filter(run__test_clock=test_clock, status=StepStatus.PENDING).exists()


def test_a_second_advance_while_one_runs_is_refused():
    test_clock = clock_create(name="Rehearsal", frozen_time=START)
    TestClock.objects.filter(pk=test_clock.pk).update(status=ClockStatus.ADVANCING)
    with pytest.raises(ClockError, match="already advancing"):
        advance_clock(test_clock=test_clock, to=START + timedelta(days=1))


def test_an_advance_goes_forward_at_most_two_intervals_of_the_longest_subscription(django_capture_on_commit_callbacks):
    test_clock = clock_create(name="Rehearsal", frozen_time=START)
    with pytest.raises(ClockError, match="only moves forward"):
        advance_clock(test_clock=test_clock, to=START - timedelta(hours=1))
    customer = services.customer_create(name="M", email="m@example.com", test_clock=test_clock)
    services.subscription_create(customer=customer, items=[(make_price("10.00", interval="month"), 1)])
    with pytest.raises(ClockError, match="up to 2025-03-06"):
        advance_clock(test_clock=test_clock, to=START + timedelta(days=61))
    advance(django_capture_on_commit_callbacks, test_clock=test_clock, to=START + timedelta(days=59))
    test_clock.refresh_from_db()
    assert test_clock.frozen_time == START + timedelta(days=59)


def test_a_failing_advance_leaves_the_clock_in_internal_failure_with_the_error(
    monkeypatch, django_capture_on_commit_callbacks
):
    test_clock = clock_create(name="Rehearsal", frozen_time=START)

    def broken(*args, **kwargs):
        raise RuntimeError("the renewals job broke")

    monkeypatch.setitem(jobs.JOBS, "renewals", broken)
    advance(django_capture_on_commit_callbacks, test_clock=test_clock, to=START + timedelta(days=3))
    test_clock.refresh_from_db()
    assert test_clock.status == ClockStatus.INTERNAL_FAILURE
    assert "the renewals job broke" in test_clock.failure
    assert test_clock.advances.get().status == AdvanceStatus.FAILED


def test_deleting_a_clock_deletes_its_customers_and_everything_of_theirs(
    team_domain, django_capture_on_commit_callbacks
):
    dunning()
    test_clock = clock_create(name="Rehearsal", frozen_time=START)
    customer, _ = declining_customer_on(test_clock, django_capture_on_commit_callbacks)
    advance(django_capture_on_commit_callbacks, test_clock=test_clock, to=START + timedelta(days=30))
    real = make_invoice()
    counts = clock_delete(test_clock=test_clock)
    assert counts["customers"] == 1 and counts["invoices"] == 1
    assert not TestClock.objects.exists()
    assert not Event.objects.filter(customer_id=customer.public_id).exists()
    assert not Run.objects.exists() and not OutboundEmail.objects.exists()
    assert Invoice.objects.get() == real


def test_a_walk_delivered_twice_does_nothing_the_second_time(django_capture_on_commit_callbacks):
    test_clock = clock_create(name="Rehearsal", frozen_time=START)
    advance_row = advance(django_capture_on_commit_callbacks, test_clock=test_clock, to=START + timedelta(days=2))
    with CaptureQueriesContext(connection) as queries:
        clockwork.advance_test_clock(advance_row.pk)
    assert all(q["sql"].startswith("SELECT") for q in queries.captured_queries)
