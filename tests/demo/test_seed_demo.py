"""The demo dataset: varied enough to show every feature, built through the services, built once."""

import io
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db import transaction
from django.db.models import Count
from django.urls import reverse
from django.utils import timezone
from djmoney.contrib.exchange.models import Rate

from automations.engine.dispatch import dispatch_due
from automations.engine.handling import unhandled_event_ids
from automations.models import Automation, HandledEvent, MatchingRecord, Run, RunStatus, RunStep, StepStatus
from automations.receivers import receivers_paused
from automations.services.test_clocks import advance_clock
from billing.jobs import JOBS
from billing.models import (
    AccountSettings,
    BillingReason,
    CollectionMethod,
    Customer,
    EndBehavior,
    Event,
    EventType,
    Interval,
    Invoice,
    InvoiceStatus,
    PaymentAttempt,
    Price,
    Quote,
    QuoteStatus,
    RetryPolicy,
    Subscription,
    SubscriptionItem,
    SubscriptionStatus,
    TestClock,
)
from billing.models import TestClockStatus as ClockStatus
from billing.services import customer_create
from demo.data import EDITOR_LOGIN, REHEARSAL_CLOCK, REHEARSAL_CUSTOMER, VIEWER_LOGIN, _DemoBuilder, seed_demo
from frame.permissions import EDITORS, VIEWERS, is_editor
from notifications.email import send_due
from notifications.models import EmailStatus, OutboundEmail, WebhookDelivery

pytestmark = pytest.mark.django_db

FAILING_CARDS = {"4000000000000002", "4000000000009995", "4000000000000069", "4000000000000341"}


def counts() -> dict[str, int]:
    return {
        "customers": Customer.objects.count(),
        "subscriptions": Subscription.objects.count(),
        "invoices": Invoice.objects.count(),
        "quotes": Quote.objects.count(),
        "payment_attempts": PaymentAttempt.objects.count(),
        "events": Event.objects.count(),
        "prices": Price.objects.count(),
        "retry_policies": RetryPolicy.objects.count(),
        "users": User.objects.count(),
        "automations": Automation.objects.count(),
        "runs": Run.objects.count(),
        "emails": OutboundEmail.objects.count(),
    }


def statuses(model) -> set[str]:
    return set(model.objects.values_list("status", flat=True))


def events_of(obj, type: str) -> int:
    return Event.objects.filter(object_id=obj.public_id, type=type).count()


@pytest.fixture(scope="class")
def demo(django_db_setup, django_db_blocker):
    """The demo, seeded once for the class in a transaction rolled back afterwards (each test
    runs in a savepoint inside it)."""
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            yield seed_demo()
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


class TestTheDemoDataset:
    def test_it_has_at_least_fifty_customers_with_segment_plan_tier_and_region_metadata(self, demo):
        customers = list(Customer.objects.all())
        assert len(customers) >= 50
        assert demo.customers == len(customers)
        for customer in customers:
            assert customer.metadata["demo"] == "1"
            assert customer.metadata["segment"] in {"smb", "mid_market", "enterprise"}
            assert customer.metadata["plan_tier"] in {"starter", "pro", "business"}
            assert customer.metadata["region"]
            assert customer.email.endswith(".example")
        assert len({c.email for c in customers}) == len(customers)

    def test_customers_pay_in_several_currencies_and_every_plan_has_monthly_and_yearly_prices_in_each(self, demo):
        currencies = set(Customer.objects.values_list("currency", flat=True))
        assert len(currencies) >= 2
        assert {"EUR", "USD", "GBP"} <= currencies
        for name in ("Starter", "Pro", "Business", "Additional seats"):
            for currency in currencies:
                intervals = set(
                    Price.objects.filter(product__name=name, unit_amount_currency=currency).values_list(
                        "interval", flat=True
                    )
                )
                assert intervals == {Interval.MONTH, Interval.YEAR}, (name, currency)
        assert Price.objects.filter(product__name="Onboarding", interval="").count() == len(currencies)

    def test_most_customers_use_the_good_test_card_and_some_use_each_failing_card(self, demo):
        cards = list(Customer.objects.values_list("default_payment_method", flat=True))
        assert cards.count("4242424242424242") > len(cards) * 0.75
        assert set(cards) >= FAILING_CARDS

    def test_it_has_monthly_and_yearly_subscriptions_in_every_status(self, demo):
        assert statuses(Subscription) == set(SubscriptionStatus.values)
        intervals = set(SubscriptionItem.objects.values_list("price__interval", flat=True))
        assert intervals == {Interval.MONTH, Interval.YEAR}
        assert Subscription.objects.filter(status=SubscriptionStatus.UNPAID).count() == 1
        assert Subscription.objects.filter(status=SubscriptionStatus.PAST_DUE).count() >= 2

    def test_subscriptions_show_invoicing_scheduled_cancellations_and_pauses(self, demo):
        send_invoice = Subscription.objects.filter(collection_method=CollectionMethod.SEND_INVOICE)
        assert send_invoice.exists()
        assert all(s.days_until_due for s in send_invoice)
        active = Subscription.objects.filter(status=SubscriptionStatus.ACTIVE)
        assert active.filter(cancel_at_period_end=True).exists()
        assert active.filter(cancel_at_period_end=False, cancel_at__isnull=False).exists()
        assert active.filter(pause_starts_at__gt=timezone.now()).exists()
        paused = Subscription.objects.get(status=SubscriptionStatus.PAUSED)
        assert paused.pause_resumes_at > timezone.now()

    def test_every_subscription_is_in_its_current_period_so_the_worker_has_nothing_to_catch_up(self, demo):
        now = timezone.now()
        live = Subscription.objects.exclude(status=SubscriptionStatus.CANCELED)
        assert not live.filter(current_period_end__lte=now).exists()
        assert not live.filter(current_period_start__gt=now).exists()

    def test_it_has_invoices_in_every_status(self, demo):
        assert statuses(Invoice) == set(InvoiceStatus.values)
        assert set(demo.invoices) == set(InvoiceStatus.values)

    def test_overdue_invoices_are_open_past_due_and_have_exactly_one_overdue_event(self, demo):
        overdue = list(Invoice.objects.filter(status=InvoiceStatus.OPEN, overdue_at__isnull=False))
        assert len(overdue) >= 2
        assert demo.overdue_invoices == len(overdue)
        for invoice in overdue:
            assert invoice.due_date < timezone.now()
            assert events_of(invoice, EventType.INVOICE_OVERDUE) == 1
        not_yet_due = Invoice.objects.filter(status=InvoiceStatus.OPEN, due_date__gt=timezone.now())
        assert not_yet_due.exists()
        assert not not_yet_due.filter(overdue_at__isnull=False).exists()

    def test_failed_payment_invoices_have_failed_attempts_and_a_scheduled_retry(self, demo):
        failing = list(
            Invoice.objects.filter(status=InvoiceStatus.OPEN, attempt_count__gt=0, next_payment_attempt__isnull=False)
        )
        assert len(failing) >= 3
        assert demo.failed_payment_invoices == len(failing)
        for invoice in failing:
            assert invoice.next_payment_attempt > timezone.now()
            assert invoice.payment_attempts.filter(outcome="failed").count() == invoice.attempt_count
            assert events_of(invoice, EventType.INVOICE_PAYMENT_FAILED) == invoice.attempt_count
            assert invoice.subscription.status == SubscriptionStatus.PAST_DUE
        # Gentle: moved there by hand; Annual plans: set by the annual dunning automation.
        policies = {
            (i.retry_policy.name, i.subscription.items.first().price.interval) for i in failing if i.retry_policy
        }
        assert policies == {("Gentle", Interval.MONTH), ("Annual plans", Interval.YEAR)}

    def test_the_unpaid_subscription_ran_out_of_retries_and_its_latest_invoice_is_a_draft(self, demo):
        subscription = Subscription.objects.get(status=SubscriptionStatus.UNPAID)
        exhausted, latest = list(subscription.invoices.order_by("period_start"))[-2:]
        assert exhausted.status == InvoiceStatus.OPEN
        assert exhausted.next_payment_attempt is None
        assert exhausted.attempt_count == AccountSettings.load().max_retries + 1
        assert latest.status == InvoiceStatus.DRAFT

    def test_a_yearly_subscription_was_canceled_by_its_retry_policy_and_the_invoice_written_off(self, demo):
        subscription = Subscription.objects.get(cancellation_reason="payment_failed")
        assert subscription.status == SubscriptionStatus.CANCELED
        invoice = subscription.invoices.get(status=InvoiceStatus.UNCOLLECTIBLE)
        assert invoice.retry_policy.name == "Annual plans"
        assert invoice.attempt_count == len(invoice.retry_policy.day_offsets) + 1
        assert events_of(subscription, EventType.SUBSCRIPTION_DELETED) == 1

    def test_every_object_was_made_through_the_services_and_has_its_creation_event(self, demo):
        created = {
            Customer: EventType.CUSTOMER_CREATED,
            Subscription: EventType.SUBSCRIPTION_CREATED,
            Invoice: EventType.INVOICE_CREATED,
            Quote: EventType.QUOTE_CREATED,
        }
        for model, type in created.items():
            ids = set(model.objects.values_list("public_id", flat=True))
            assert ids == set(Event.objects.filter(type=type).values_list("object_id", flat=True)), model
        finalized = Invoice.objects.exclude(status=InvoiceStatus.DRAFT).values_list("public_id", flat=True)
        assert set(finalized) == set(
            Event.objects.filter(type=EventType.INVOICE_FINALIZED).values_list("object_id", flat=True)
        )
        paid = Invoice.objects.filter(status=InvoiceStatus.PAID)
        assert paid.count() == Event.objects.filter(type=EventType.INVOICE_PAID).count()

    def test_quotes_cover_every_status_and_open_ones_expire_within_days_to_weeks(self, demo):
        assert statuses(Quote) == set(QuoteStatus.values)
        now = timezone.now()
        open_quotes = Quote.objects.filter(status=QuoteStatus.OPEN)
        assert all(q.expires_at > now for q in open_quotes)
        assert open_quotes.filter(expires_at__lte=now + timedelta(days=3)).exists()
        assert open_quotes.filter(expires_at__gte=now + timedelta(days=14)).exists()
        for quote in Quote.objects.filter(status=QuoteStatus.ACCEPTED):
            assert quote.invoice is not None
            assert events_of(quote, EventType.QUOTE_ACCEPTED) == 1

    # --- A history lived through, with real past timestamps ---------------------------

    def test_customers_invoices_and_events_are_spread_over_past_months_and_none_lies_in_the_future(self, demo):
        now = timezone.now()
        for model in (Customer, Invoice, Event):
            created = list(model.objects.values_list("created", flat=True))
            assert max(created) <= now, model
            assert min(created) < now - timedelta(days=150), model
            assert len({(c.year, c.month) for c in created}) >= 5, model
            assert sum(c > now - timedelta(days=1) for c in created) < len(created) / 10, model
        assert demo.history_from == Event.objects.order_by("created").first().created
        assert demo.history_to <= now

    def test_invoices_subscriptions_and_customers_carry_the_time_of_their_creation_event(self, demo):
        created = {
            Customer: EventType.CUSTOMER_CREATED,
            Subscription: EventType.SUBSCRIPTION_CREATED,
            Invoice: EventType.INVOICE_CREATED,
            Quote: EventType.QUOTE_CREATED,
        }
        for model, type in created.items():
            when = dict(Event.objects.filter(type=type).values_list("object_id", "created"))
            for public_id, moment in model.objects.values_list("public_id", "created"):
                assert when[public_id] == moment, (model, public_id)

    def test_subscriptions_began_with_their_first_invoice_and_renewals_were_invoiced_when_their_period_began(
        self, demo
    ):
        for subscription in Subscription.objects.all():
            first = subscription.invoices.order_by("created", "pk").first()
            assert first.billing_reason == BillingReason.SUBSCRIPTION_CREATE
            assert first.created == subscription.created == first.period_start
        renewals = list(Invoice.objects.filter(billing_reason=BillingReason.SUBSCRIPTION_CYCLE))
        assert len(renewals) >= 50
        for invoice in renewals:
            assert timedelta(0) <= invoice.created - invoice.period_start < timedelta(days=1), invoice
            if invoice.status != InvoiceStatus.DRAFT:
                assert timedelta(0) <= invoice.finalized_at - invoice.created < timedelta(days=1), invoice

    def test_payments_were_retried_on_their_schedule_and_one_went_through_after_earlier_failures(self, demo):
        recovered = Invoice.objects.filter(status=InvoiceStatus.PAID, attempt_count__gte=2)
        assert recovered.exists()
        assert recovered.filter(attempt_count__gte=3).exists()  # the customer who put in a new card
        retried = Invoice.objects.filter(attempt_count__gte=2)
        for invoice in retried:
            attempts = list(invoice.payment_attempts.order_by("attempt_number"))
            assert [a.attempt_number for a in attempts] == list(range(1, invoice.attempt_count + 1))
            assert attempts[0].created == invoice.first_failed_at
            offsets = (invoice.retry_policy or AccountSettings.load()).retry_offsets()
            for previous, attempt, offset in zip(attempts, attempts[1:], offsets, strict=False):
                if attempt.payment_method != previous.payment_method:
                    continue  # a new card is charged at once, off the schedule
                late = attempt.created - (invoice.first_failed_at + offset)
                assert timedelta(0) <= late < timedelta(days=1), (invoice, attempt.attempt_number)
            if invoice.status == InvoiceStatus.PAID:
                assert invoice.paid_at == attempts[-1].created
                assert attempts[-1].outcome == "succeeded"
                assert all(a.outcome == "failed" for a in attempts[:-1])

    def test_invoices_were_found_overdue_when_they_fell_due_and_some_transfers_came_days_after_sending(self, demo):
        flagged = Invoice.objects.filter(overdue_at__isnull=False)
        assert flagged.count() >= 3
        for invoice in flagged:
            assert timedelta(0) <= invoice.overdue_at - invoice.due_date < timedelta(days=1), invoice
        transfers = Invoice.objects.filter(status=InvoiceStatus.PAID, paid_out_of_band=True)
        assert transfers.count() >= 5
        for invoice in transfers:
            assert invoice.paid_at - invoice.finalized_at >= timedelta(days=1), invoice
        assert transfers.filter(overdue_at__isnull=False).exists()  # paid late, after the reminder

    def test_scheduled_cancellations_pauses_and_expiries_were_carried_out_by_the_jobs_on_time(self, demo):
        canceled = Subscription.objects.get(
            status=SubscriptionStatus.CANCELED, cancellation_reason="cancellation_requested"
        )
        assert canceled.cancel_at_period_end
        assert timedelta(0) <= canceled.canceled_at - canceled.cancel_at < timedelta(days=1)
        assert not canceled.invoices.filter(period_start__gte=canceled.canceled_at).exists()

        by_policy = Subscription.objects.get(cancellation_reason="payment_failed")
        invoice = by_policy.invoices.get(status=InvoiceStatus.UNCOLLECTIBLE)
        last_retry = invoice.first_failed_at + timedelta(days=invoice.retry_policy.day_offsets[-1])
        assert timedelta(0) <= by_policy.canceled_at - last_retry < timedelta(days=1)
        assert invoice.marked_uncollectible_at > by_policy.canceled_at

        voided = Invoice.objects.get(billing_reason=BillingReason.SUBSCRIPTION_CYCLE, status=InvoiceStatus.VOID)
        updates = Event.objects.filter(
            object_id=voided.subscription.public_id, type=EventType.SUBSCRIPTION_UPDATED
        ).order_by("created", "id")
        status_changes = [(e.created, e.data_object["status"]) for e in updates if "status" in e.previous_attributes]
        assert [status for _, status in status_changes] == ["paused", "active"]
        (paused_at, _), (resumed_at, _) = status_changes
        assert paused_at < voided.created < resumed_at < timezone.now()
        assert voided.subscription.status == SubscriptionStatus.ACTIVE

        expired = Quote.objects.get(cancellation_reason="expired")
        assert timedelta(0) <= expired.canceled_at - expired.expires_at < timedelta(days=1)
        for quote in Quote.objects.filter(status=QuoteStatus.ACCEPTED):
            assert quote.finalized_at < quote.accepted_at == quote.invoice.created

    def test_the_history_reaches_now_so_the_worker_has_nothing_left_to_do(self, demo):
        assert {name: job() for name, job in JOBS.items()} == dict.fromkeys(JOBS, 0)

    # --- The automations, living through the history too --------------------------------

    def test_the_demo_editor_set_up_the_four_reference_automations_when_the_history_began(self, demo):
        editor = User.objects.get(username=EDITOR_LOGIN.username)
        automations = {a.name: a for a in Automation.objects.select_related("current_version")}
        assert {(a.trigger, a.priority, name) for name, a in automations.items()} == {
            ("subscription.payment_failed", 1, "Annual subscriber dunning"),
            ("subscription.payment_failed", 2, "Failed monthly payment alert"),
            ("invoice.overdue", 1, "Large overdue invoices to collections"),
            ("subscription.canceled", 1, "Cancellation confirmation"),
            ("quote.expiring", 1, "Quote expiry reminder"),
        }
        assert demo.automations == len(automations)
        first_event = Event.objects.order_by("created").first().created
        for automation in automations.values():
            assert automation.enabled and automation.archived_at is None
            assert automation.created_by == editor
            assert automation.created == automation.current_version.created <= first_event

        def definition(name):
            version = automations[name].current_version
            return version.filters, [(s["action"], s["delay"], s["params"]) for s in version.steps]

        now, week = {"amount": 0, "unit": "days"}, {"amount": 7, "unit": "days"}
        assert definition("Annual subscriber dunning") == (
            [{"type": "subscription_interval", "params": {"interval": "year"}}],
            [
                ("set_retry_policy", now, {"policy": "Annual plans"}),
                ("cancel_subscription", week, {}),
                ("mark_invoice_uncollectible", now, {}),
            ],
        )
        filters, [(action, delay, params)] = definition("Large overdue invoices to collections")
        assert filters == [{"type": "invoice_amount", "params": {"min": "500.01", "max": None}}]
        assert (action, delay, params["recipient"]) == ("send_team_email", now, "collections@relance.example")
        assert all(f"{{{name}}}" in params["message"] for name in ("number", "customer", "days_overdue", "amount"))
        assert definition("Cancellation confirmation") == (
            [],
            [("send_cancellation_email", now, {"survey_url": "https://relance.example/survey"})],
        )
        assert definition("Quote expiry reminder") == (
            [],
            [("send_quote_will_expire_webhook", {"amount": 3, "unit": "days", "direction": "before"}, {})],
        )

    def test_runs_started_when_their_events_happened_and_their_steps_ran_at_historical_times(self, demo):
        now = timezone.now()
        assert {RunStatus.ACTIVE, RunStatus.COMPLETED, RunStatus.ENDED} <= statuses(Run)
        assert demo.runs == dict(Counter(Run.objects.values_list("status", flat=True)))
        for run in Run.objects.select_related("event"):
            assert run.started_at == run.event.created, run
            assert (run.finished_at is None) == (run.status == RunStatus.ACTIVE), run
            assert run.finished_at is None or run.started_at <= run.finished_at <= now, run
        executed = list(RunStep.objects.filter(executed_at__isnull=False))
        assert len(executed) >= 15
        for step in executed:
            assert step.executed_at == step.scheduled_at < now, step  # the dispatcher ran it when it fell due
            assert step.status in (StepStatus.SUCCEEDED, StepStatus.SKIPPED), step
        moments = [step.executed_at for step in executed]
        assert min(moments) < now - timedelta(days=60)
        assert len({m.date() for m in moments}) >= 8
        assert not RunStep.objects.filter(status__in=[StepStatus.RUNNING, StepStatus.FAILED]).exists()

    def test_a_yearly_dunning_run_completed_with_the_subscription_canceled_and_the_invoice_written_off(self, demo):
        run = Run.objects.get(automation__name="Annual subscriber dunning", status=RunStatus.COMPLETED)
        invoice = Invoice.objects.get(public_id=run.object_id)
        subscription = invoice.subscription
        assert (invoice.status, subscription.status) == (InvoiceStatus.UNCOLLECTIBLE, SubscriptionStatus.CANCELED)
        assert subscription.cancellation_reason == "payment_failed"
        policy, cancel, write_off = run.steps.order_by("position")
        assert [policy.status, cancel.status, write_off.status] == ["succeeded", "skipped", "succeeded"]
        assert policy.result == {
            "invoice": invoice.public_id,
            "policy": "Annual plans",
            "attempts": 5,
            "outcome": "retries exhausted",
        }
        # The policy's last retry canceled the subscription (its end behavior); the run went on
        # a couple of minutes later, and a week after that found it canceled and wrote it off.
        assert timedelta(0) < policy.executed_at - subscription.canceled_at <= timedelta(minutes=5)
        assert cancel.error == "subscription is already canceled"
        assert cancel.executed_at == write_off.executed_at == policy.executed_at + timedelta(days=7)
        assert invoice.marked_uncollectible_at == write_off.executed_at == run.finished_at
        assert events_of(invoice, EventType.INVOICE_MARKED_UNCOLLECTIBLE) == 1

    def test_a_yearly_dunning_run_ended_when_the_retry_after_a_new_card_paid_the_invoice(self, demo):
        run = Run.objects.get(automation__name="Annual subscriber dunning", status=RunStatus.ENDED)
        invoice = Invoice.objects.get(public_id=run.object_id)
        assert (run.reason, invoice.status, invoice.subscription.status) == ("invoice paid", "paid", "active")
        assert invoice.retry_policy.name == "Annual plans" and invoice.attempt_count == 3
        assert run.finished_at == invoice.paid_at
        assert set(run.steps.values_list("status", flat=True)) == {StepStatus.CANCELED}

    def test_a_yearly_dunning_run_waits_for_the_retries_still_to_come(self, demo):
        run = Run.objects.get(
            automation__name="Annual subscriber dunning", status=RunStatus.ACTIVE, test_clock__isnull=True
        )
        invoice = Invoice.objects.get(public_id=run.object_id)
        assert invoice.status == InvoiceStatus.OPEN and invoice.retry_policy.name == "Annual plans"
        policy = run.steps.get(position=1)
        assert policy.status == StepStatus.PENDING
        assert policy.result["waiting"].startswith("waiting for the retry policy")
        assert timezone.now() < invoice.next_payment_attempt < policy.scheduled_at
        assert list(run.steps.values_list("status", flat=True)) == [StepStatus.PENDING] * 3

    def test_every_first_failed_payment_has_its_matching_record_and_monthly_ones_were_not_for_annual_dunning(
        self, demo
    ):
        first_failures = {}
        for event in Event.objects.filter(type=EventType.INVOICE_PAYMENT_FAILED).order_by("pk"):
            if event.data_object["subscription"]:
                first_failures.setdefault(event.object_id, event.pk)
        records = list(MatchingRecord.objects.filter(trigger="subscription.payment_failed").select_related("run"))
        assert sorted(r.event_id for r in records) == sorted(first_failures.values())
        monthly = [r for r in records if not r.checks[0]["matched"]]
        assert len(monthly) >= 5
        for record in records:
            annual = record.checks[0]
            assert annual["name"] == "Annual subscriber dunning"
            if annual["matched"]:
                assert len(record.checks) == 1 and record.run.automation.name == "Annual subscriber dunning"
                continue
            assert (annual["filter"], annual["expected"], annual["found"]) == (
                "Subscription interval",
                "interval is yearly",
                "monthly",
            )
            [_, alert] = record.checks
            assert alert["name"] == "Failed monthly payment alert" and alert["matched"] is True
            assert record.run.automation.name == "Failed monthly payment alert"
            assert record.outcome == "started a run of Failed monthly payment alert"

    def test_large_overdue_invoices_were_reported_to_collections_and_small_ones_were_not(self, demo):
        overdue = Event.objects.filter(type=EventType.INVOICE_OVERDUE)
        records = {r.event_id: r for r in MatchingRecord.objects.filter(trigger="invoice.overdue")}
        assert set(records) == set(overdue.values_list("pk", flat=True))
        matched = [r for r in records.values() if r.run_id]
        assert len(matched) >= 2 and len(matched) < len(records)
        for record in records.values():
            [check] = record.checks
            if not check["matched"]:
                assert check["expected"] == "invoice amount at least 500.01 EUR"
                assert Decimal(check["found"].split()[0]) < Decimal("500.01")
        emails = OutboundEmail.objects.filter(template="emails/team_memo", recipients=["collections@relance.example"])
        assert emails.count() == len(matched)
        for record in matched:
            assert record.run.status == RunStatus.COMPLETED
            email = emails.get(public_id=record.run.steps.get().result["email"])
            invoice = Invoice.objects.get(public_id=record.run.object_id)
            assert email.created == invoice.overdue_at
            assert f"Invoice {invoice.number} of {invoice.customer.name} is 0 days overdue" in email.text_body

    def test_canceled_subscriptions_got_the_cancellation_confirmation_with_the_survey_link(self, demo):
        canceled = Subscription.objects.filter(status=SubscriptionStatus.CANCELED).select_related("customer")
        assert canceled.count() >= 2
        for subscription in canceled:
            run = Run.objects.get(automation__name="Cancellation confirmation", object_id=subscription.public_id)
            assert run.status == RunStatus.COMPLETED
            email = OutboundEmail.objects.get(public_id=run.steps.get().result["email"])
            assert email.recipients == [subscription.customer.email]
            assert email.created == subscription.canceled_at
            assert "https://relance.example/survey" in email.text_body
            assert "Thank you for having been a customer of Relance Demo Co." in email.text_body

    def test_emails_of_the_history_were_sent_when_their_steps_ran_and_none_is_left_queued(self, demo):
        emails = list(OutboundEmail.objects.all())
        assert demo.emails == len(emails) >= 10
        assert {e.status for e in emails} == {EmailStatus.SENT}
        assert all(e.sent_at == e.created < timezone.now() for e in emails)
        sent_by_steps = RunStep.objects.filter(action__in=["send_team_email", "send_cancellation_email"])
        assert sorted(e.public_id for e in emails) == sorted(s.result["email"] for s in sent_by_steps)
        assert send_due() == 0

    def test_quote_reminders_wait_for_open_quotes_ran_for_the_expired_one_and_ended_with_the_others(self, demo):
        now = timezone.now()
        runs = list(Run.objects.filter(automation__name="Quote expiry reminder"))
        assert len(runs) == Event.objects.filter(type=EventType.QUOTE_FINALIZED).count()
        for run in runs:
            quote = Quote.objects.get(public_id=run.object_id)
            step = run.steps.get()
            assert run.anchor_at == quote.expires_at and step.scheduled_at == quote.expires_at - timedelta(days=3)
            if quote.status == QuoteStatus.OPEN and step.scheduled_at > now:
                assert (run.status, step.status) == (RunStatus.ACTIVE, StepStatus.PENDING)
            elif quote.status in (QuoteStatus.OPEN, QuoteStatus.CANCELED) and quote.cancellation_reason in (
                "",
                "expired",
            ):
                assert (run.status, step.status) == (RunStatus.COMPLETED, StepStatus.SUCCEEDED)
                assert step.result["type"] == "quote.will_expire"
            else:
                reason = "quote accepted" if quote.status == QuoteStatus.ACCEPTED else "quote canceled"
                assert (run.status, run.reason, step.status) == (RunStatus.ENDED, reason, StepStatus.CANCELED)
        upcoming = [r for r in runs if r.status == RunStatus.ACTIVE]
        assert len(upcoming) >= 2
        assert Quote.objects.get(cancellation_reason="expired").public_id in {
            r.object_id for r in runs if r.status == RunStatus.COMPLETED
        }
        assert not WebhookDelivery.objects.exists()  # the demo has no webhook endpoint

    def test_every_event_was_handled_once_when_it_happened_and_nothing_is_left_for_the_engine(self, demo):
        handled = dict(HandledEvent.objects.values_list("event_id", "handled_at"))
        events = dict(Event.objects.values_list("pk", "created"))
        assert handled == events
        assert unhandled_event_ids() == []
        assert dispatch_due() == 0

    def test_account_settings_retry_policies_and_exchange_rates_are_in_place(self, demo, settings):
        account = AccountSettings.load()
        assert account.default_currency == settings.DEFAULT_CURRENCY
        assert account.team_email_domains == ["relance.example"]
        assert account.retry_offsets()
        annual = RetryPolicy.objects.get(name="Annual plans")
        assert annual.day_offsets == [3, 7, 14, 21]
        assert annual.end_behavior == EndBehavior.CANCEL_SUBSCRIPTION
        gentle = RetryPolicy.objects.get(name="Gentle")
        assert (gentle.max_retries, gentle.within_days, gentle.end_behavior) == (4, 21, EndBehavior.LEAVE_PAST_DUE)
        assert Rate.objects.filter(currency="USD", backend__base_currency=settings.DEFAULT_CURRENCY).exists()

    def test_the_demo_editor_logs_in_with_the_printed_password_and_may_use_the_billing_admin(self, demo):
        user = authenticate(username=EDITOR_LOGIN.username, password="relance-demo")
        assert user is not None
        assert EDITOR_LOGIN in demo.logins
        assert list(user.groups.values_list("name", flat=True)) == [EDITORS]
        assert is_editor(user)
        assert user.is_staff
        assert not user.is_superuser
        assert user.has_perms(["billing.change_invoice", "billing.view_customer", "billing.add_retrypolicy"])
        assert not user.has_perm("auth.change_user")

    def test_the_demo_viewer_logs_in_with_the_printed_password_and_is_read_only(self, demo):
        user = authenticate(username=VIEWER_LOGIN.username, password="relance-viewer")
        assert user is not None
        assert list(user.groups.values_list("name", flat=True)) == [VIEWERS]
        assert not is_editor(user)
        assert not user.is_staff

    def test_a_second_run_creates_nothing_and_reports_the_same_dataset(self, demo):
        before = counts()
        again = seed_demo()
        assert counts() == before
        assert again.created is False
        assert (again.customers, again.invoices, again.events) == (demo.customers, demo.invoices, demo.events)
        assert authenticate(username="demo", password="relance-demo") is not None

    def test_the_customers_are_the_same_on_every_run(self, demo):
        names = sorted(Customer.objects.filter(test_clock__isnull=True).values_list("name", "email", "currency"))
        rebuilt = sorted((p.name, p.email, p.currency) for p in _DemoBuilder(timezone.now()).profiles())
        assert names == rebuilt


def test_the_seeds_own_events_are_not_sent_to_the_engine_workers_and_later_ones_are(
    django_capture_on_commit_callbacks,
):
    """The simulation handles the seed's events itself; the tasks sent at commit would only
    find them handled. Once the seed is done, events reach the engine as usual."""
    with receivers_paused(), django_capture_on_commit_callbacks(execute=True):
        seeded = customer_create(name="Seeded Ltd", email="seeded@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        later = customer_create(name="Later Ltd", email="later@example.com")
    handled = set(HandledEvent.objects.values_list("event__object_id", flat=True))
    assert seeded.public_id not in handled
    assert later.public_id in handled


def test_the_command_refuses_to_run_with_debug_off(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG"):
        call_command("seed_demo", stdout=io.StringIO())
    assert not Customer.objects.exists()
    assert not User.objects.filter(username="demo").exists()


@time_machine.travel(datetime(2025, 3, 31, 9, 30, tzinfo=UTC))
def test_the_command_seeds_at_a_month_end_prints_the_logins_and_changes_nothing_when_run_again(settings):
    """At the end of a long month periods are clamped (31 Jan + 1 month = 28 Feb); the demo
    still shows every status."""
    settings.DEBUG = True
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    output = out.getvalue()
    assert "Demo data created." in output
    assert "http://127.0.0.1:8000/" in output
    assert "demo / relance-demo" in output
    assert "viewer / relance-viewer" in output
    assert re.search(r"history: +20\d\d-\d\d-\d\d to 2025-03-\d\d\n", output)
    assert statuses(Invoice) == set(InvoiceStatus.values)
    assert statuses(Subscription) == set(SubscriptionStatus.values)
    assert Invoice.objects.filter(status=InvoiceStatus.OPEN, overdue_at__isnull=False).exists()
    assert not Event.objects.filter(created__gt=timezone.now()).exists()
    assert re.search(r"automations: +5, \d+ runs \(\d+ active, \d+ completed, \d+ ended\); \d+ emails sent\n", output)
    assert HandledEvent.objects.count() == Event.objects.count()
    before = counts()
    by_type = dict(Event.objects.values_list("type").annotate(n=Count("id")))

    out = io.StringIO()
    call_command("seed_demo", stdout=out)

    assert "nothing new was created" in out.getvalue()
    assert "demo / relance-demo" in out.getvalue()
    assert counts() == before
    assert dict(Event.objects.values_list("type").annotate(n=Count("id"))) == by_type


class TestTheRehearsalClock:
    """The demo's test clock: a yearly customer whose card declines, its annual dunning run
    waiting at the clock's time (README: "Try an automation on a test clock")."""

    def test_the_clock_is_frozen_at_the_demos_now_with_one_declining_yearly_customer(self, demo):
        test_clock = TestClock.objects.get(name=REHEARSAL_CLOCK)
        assert test_clock.status == ClockStatus.READY
        assert timezone.now() - timedelta(minutes=5) < test_clock.frozen_time <= timezone.now()
        customer = test_clock.customers.get()
        assert (customer.name, customer.email) == REHEARSAL_CUSTOMER
        assert customer.default_payment_method == "4000000000000002"
        assert customer.created == test_clock.frozen_time
        subscription = customer.subscriptions.get()
        assert subscription.items.get().price.interval == Interval.YEAR
        invoice = subscription.invoices.get()
        assert (invoice.status, invoice.attempt_count) == (InvoiceStatus.OPEN, 1)
        assert invoice.payment_attempts.get().created == test_clock.frozen_time
        assert demo.test_clocks == [REHEARSAL_CLOCK]

    def test_the_clock_customer_is_the_only_one_on_a_clock_and_its_events_are_the_clocks(self, demo):
        test_clock = TestClock.objects.get()
        customer = Customer.objects.get(test_clock__isnull=False)
        events = Event.objects.filter(customer_id=customer.public_id)
        assert events.exists()
        assert set(events.values_list("test_clock", flat=True)) == {test_clock.public_id}
        assert set(events.values_list("created", flat=True)) == {test_clock.frozen_time}
        assert not Event.objects.filter(test_clock__isnull=False).exclude(customer_id=customer.public_id).exists()

    def test_an_annual_dunning_run_is_active_on_the_clock_with_its_steps_pending_at_simulated_times(self, demo):
        test_clock = TestClock.objects.get()
        run = Run.objects.get(test_clock=test_clock)
        assert run.automation.name == "Annual subscriber dunning"
        assert (run.status, run.started_at) == (RunStatus.ACTIVE, test_clock.frozen_time)
        invoice = Invoice.objects.get(public_id=run.object_id)
        assert invoice.customer.test_clock_id == test_clock.public_id
        steps = list(run.steps.order_by("position"))
        assert [step.status for step in steps] == [StepStatus.PENDING] * 3
        assert [step.action for step in steps] == [
            "set_retry_policy",
            "cancel_subscription",
            "mark_invoice_uncollectible",
        ]
        # The policy step was run at the clock's time: the invoice is on Annual plans, its next
        # retry 3 simulated days after the failure, and the step waits for the retries to end.
        assert invoice.retry_policy.name == "Annual plans"
        assert invoice.next_payment_attempt == test_clock.frozen_time + timedelta(days=3)
        assert steps[0].result["waiting"].startswith("waiting for the retry policy")
        assert steps[0].scheduled_at > test_clock.frozen_time
        assert MatchingRecord.objects.filter(run=run).exists()

    def test_nothing_of_the_clock_is_left_for_the_worker_in_real_time(self, demo):
        assert unhandled_event_ids(limit=10, since_days=365, settle=timedelta(0)) == []
        assert (
            unhandled_event_ids(
                limit=10, since_days=365, settle=timedelta(0), test_clock=TestClock.objects.get().public_id
            )
            == []
        )
        assert dispatch_due() == 0
        assert RunStep.objects.filter(run__test_clock__isnull=False, status=StepStatus.PENDING).count() == 3

    def test_advancing_the_clock_40_days_runs_the_retries_the_wait_the_cancellation_and_the_write_off(
        self, demo, django_capture_on_commit_callbacks
    ):
        test_clock = TestClock.objects.get()
        with django_capture_on_commit_callbacks(execute=True):
            advance_clock(test_clock=test_clock, to=test_clock.frozen_time + timedelta(days=40))
        test_clock.refresh_from_db()
        assert test_clock.status == ClockStatus.READY
        run = Run.objects.get(test_clock=test_clock, automation__name="Annual subscriber dunning")
        assert run.status == RunStatus.COMPLETED
        policy, cancel, write_off = run.steps.order_by("position")
        assert [policy.status, cancel.status, write_off.status] == ["succeeded", "skipped", "succeeded"]
        invoice = Invoice.objects.get(public_id=run.object_id)
        assert invoice.status == InvoiceStatus.UNCOLLECTIBLE
        assert invoice.subscription.status == SubscriptionStatus.CANCELED
        assert invoice.payment_attempts.count() == 5
        assert cancel.executed_at == write_off.executed_at == policy.executed_at + timedelta(days=7)
        assert cancel.error == "subscription is already canceled"  # by the Annual plans policy's last retry
        assert write_off.executed_at < test_clock.frozen_time <= timezone.now() + timedelta(days=41)
        # The canceled subscription started the cancellation confirmation: its email is simulated.
        confirmation = Run.objects.get(test_clock=test_clock, automation__name="Cancellation confirmation")
        assert confirmation.status == RunStatus.COMPLETED
        email = OutboundEmail.objects.get(test_clock=test_clock)
        assert (email.status, email.recipients) == (EmailStatus.SIMULATED, [REHEARSAL_CUSTOMER[1]])

    def test_the_readme_walk_through_reads_as_the_pages_say(self, demo, client, django_capture_on_commit_callbacks):
        """README, "Try an automation on a test clock": the clock, its run, the advance, the timeline."""
        client.force_login(User.objects.get(username=EDITOR_LOGIN.username))
        test_clock = TestClock.objects.get()
        assert REHEARSAL_CLOCK in client.get(reverse("test_clocks")).text
        page = client.get(reverse("test_clock_detail", args=[test_clock.public_id])).text
        run = Run.objects.get(test_clock=test_clock)
        assert REHEARSAL_CUSTOMER[0] in page and run.public_id in page
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                reverse("test_clock_advance", args=[test_clock.public_id]),
                {"to": f"{test_clock.frozen_time + timedelta(days=40):%Y-%m-%dT%H:%M}"},
            )
        assert response.status_code in (200, 302)
        test_clock.refresh_from_db()
        assert test_clock.status == ClockStatus.READY
        timeline = client.get(reverse("run_detail", args=[run.automation.public_id, run.public_id])).text
        for text in [
            "Payment attempts on the invoice",
            "Retry 4",
            "subscription is already canceled",
            "Mark invoice uncollectible",
            f"Test clock: {REHEARSAL_CLOCK}",
        ]:
            assert text in timeline, text
        emails = client.get(reverse("notifications:email_list")).text
        assert "Simulated (test clock)" in emails

    def test_seeding_again_creates_no_second_clock_customer_or_run(self, demo):
        before = (
            TestClock.objects.count(),
            Customer.objects.filter(test_clock__isnull=False).count(),
            Run.objects.count(),
        )
        again = seed_demo()
        assert again.created is False
        assert (
            TestClock.objects.count(),
            Customer.objects.filter(test_clock__isnull=False).count(),
            Run.objects.count(),
        ) == before
        assert before[:2] == (1, 1)
        assert again.test_clocks == [REHEARSAL_CLOCK]
