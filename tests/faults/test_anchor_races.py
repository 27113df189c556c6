"""Anchor races: hypothesis interleaves billing events (paid, voided, due date moved,
cancellation scheduled, moved or withdrawn) with dispatcher ticks on a simulated clock, and
checks after every move that

- no side effect happens after a run has ended (no email or webhook created after its end),
- each step acts at most once (one email or webhook per succeeded step, none for the others),
- steps follow their anchors (a pending step sits at its run's anchor ± its delay, the run's
  anchor is the object's date, a step runs when due and not before, nothing due is left over).

Single-process and in the test's transaction (no row locks needed): runs on SQLite too.
"""

import contextlib
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from automations.engine.actions.common import webhook_event_id
from automations.engine.dispatch import dispatch_due
from automations.engine.handling import handle_event
from automations.engine.scheduling import delay_of
from automations.models import Run, RunStep
from billing import clock, services
from billing.errors import BillingError
from billing.models import AccountSettings, Event, Invoice, Subscription
from notifications.models import OutboundEmail, WebhookDelivery, WebhookEndpoint
from tests.factories import make_invoice, make_subscription
from tests.faults.conftest import TEAM, automation

pytestmark = pytest.mark.django_db

EMAIL = "send_team_email"
MEMO = {"recipient": TEAM, "message": "{number}"}


def _days(n: int, direction: str) -> dict:
    return {"amount": n, "unit": "days", "direction": direction}


INVOICE_STEPS = [
    {"action": "send_invoice_will_be_due_webhook", "delay": _days(3, "before"), "params": {}},
    {"action": EMAIL, "delay": _days(1, "before"), "params": MEMO},
    {"action": EMAIL, "delay": _days(1, "after"), "params": MEMO},
]
CANCEL_STEPS = [
    {"action": "send_custom_event_webhook", "delay": _days(7, "before"), "params": {"label": "win_back"}},
    {"action": EMAIL, "delay": _days(1, "before"), "params": MEMO},
]

moves = st.lists(
    st.one_of(
        st.tuples(st.just("tick"), st.integers(1, 48)),  # hours
        st.tuples(st.just("pay"), st.none()),
        st.tuples(st.just("void"), st.none()),
        st.tuples(st.just("move_due_date"), st.integers(-6, 8)),  # days
        st.tuples(st.just("unschedule_cancel"), st.none()),
        st.tuples(st.just("schedule_cancel"), st.integers(1, 12)),  # days from now
    ),
    max_size=16,
)


class Rollback(Exception):
    pass


@settings(max_examples=60, derandomize=True, deadline=None)
@given(moves)
def test_billing_events_interleaved_with_dispatcher_ticks_keep_the_invariants(sequence):
    try:
        with transaction.atomic():
            Story().play(sequence)
            raise Rollback  # every example starts from an empty database
    except Rollback:
        pass


class Story:
    def __init__(self):
        self.now = timezone.now().replace(second=0, microsecond=0)
        self.seen_event = Event.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        account = AccountSettings.load()
        account.team_email_domains = ["relance.example"]
        account.save()
        WebhookEndpoint.objects.create(
            url="https://hooks.example/relance", secret="whsec_races",
            enabled_events=["invoice.will_be_due", "customer.subscription.custom_event"],
        )  # fmt: skip
        automation("invoice.due_date_upcoming", INVOICE_STEPS, name="Due date")
        automation("subscription.cancel_scheduled", CANCEL_STEPS, name="Win back")
        with clock.travel(self.now):
            invoice = make_invoice(status="draft", due_date=self.now + timedelta(days=4))
            self.invoice = services.invoice_finalize(invoice=invoice)
            self.subscription = make_subscription()
            services.subscription_schedule_cancel(subscription=self.subscription, at=self.now + timedelta(days=9))
            self.handle_events()
        assert Run.objects.filter(status="active").count() == 2
        self.check()

    def play(self, sequence):
        for move, value in sequence:
            if move == "tick":
                self.tick(timedelta(hours=value))
            else:
                # BillingError: not allowed in the object's current state, and nothing happened.
                with clock.travel(self.now):
                    with contextlib.suppress(BillingError):
                        self.billing(move, value)
                    self.handle_events()
            self.check()

    def billing(self, move, value):
        invoice = Invoice.objects.get(pk=self.invoice.pk)
        subscription = Subscription.objects.get(pk=self.subscription.pk)
        if move == "pay":
            services.invoice_mark_paid(invoice=invoice)
        elif move == "void":
            services.invoice_void(invoice=invoice)
        elif move == "move_due_date":
            services.invoice_update(invoice=invoice, due_date=invoice.due_date + timedelta(days=value))
        elif move == "unschedule_cancel":
            services.subscription_unschedule_cancel(subscription=subscription)
        elif move == "schedule_cancel":
            at = self.now + timedelta(days=value, hours=1)
            services.subscription_schedule_cancel(subscription=subscription, at=at)

    def handle_events(self):
        """What the engine's task does right after each billing commit (on_commit does not fire here)."""
        for event_id in Event.objects.filter(pk__gt=self.seen_event).order_by("pk").values_list("pk", flat=True):
            handle_event(event_id)
            self.seen_event = event_id

    def tick(self, step: timedelta):
        before = set(RunStep.objects.filter(status="succeeded").values_list("pk", flat=True))
        anchors = dict(Run.objects.values_list("pk", "anchor_at"))
        self.now += step
        with clock.travel(self.now):
            dispatch_due()
        for done in RunStep.objects.filter(status="succeeded").exclude(pk__in=before):
            # Run when due, at the time its anchor gave it then.
            assert done.scheduled_at <= done.executed_at == self.now
            assert done.scheduled_at == anchors[done.run_id] + delay_of(done.delay)
        # Nothing due is left on an active run.
        assert not RunStep.objects.filter(run__status="active", status="pending", scheduled_at__lte=self.now).exists()

    def check(self):
        invoice = Invoice.objects.get(pk=self.invoice.pk)
        subscription = Subscription.objects.get(pk=self.subscription.pk)
        anchor_of = {
            "invoice.due_date_upcoming": invoice.due_date,
            "subscription.cancel_scheduled": subscription.cancel_at,
        }
        emails = {e.idempotency_key: e for e in OutboundEmail.objects.all()}
        deliveries = {d.event_id: d for d in WebhookDelivery.objects.all()}
        acted = 0
        for run in Run.objects.prefetch_related("steps"):
            if run.status == "active":
                assert run.anchor_at == anchor_of[run.trigger]  # the run follows its object's date
            else:
                assert run.finished_at is not None
                assert not [s for s in run.steps.all() if s.status in ("pending", "running")]
            for step in run.steps.all():
                if step.status == "pending":
                    assert step.scheduled_at == run.anchor_at + delay_of(step.delay)
                effect = emails.get(step.idempotency_key) or deliveries.get(webhook_event_id(step))
                if step.status != "succeeded":
                    assert effect is None, (step, step.status)  # no effect for a step that did not act
                    continue
                acted += 1
                assert step.attempts == 1
                assert effect is not None and effect.created == step.executed_at
                if run.finished_at:  # no side effect after the run ended
                    assert effect.created <= run.finished_at, (run.reason, step)
        assert acted == len(emails) + len(deliveries)  # each step acted at most once, nothing else did
        if invoice.status in ("paid", "void"):
            assert not Run.objects.filter(trigger="invoice.due_date_upcoming", status="active").exists()
        if subscription.cancel_at is None:
            assert not Run.objects.filter(trigger="subscription.cancel_scheduled", status="active").exists()
