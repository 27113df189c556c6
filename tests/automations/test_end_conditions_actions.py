"""Every action looks again at its time whether its run's end condition holds, whatever the
action (team memo, webhooks, billing changes, customer email, retry policy) and the trigger,
and whichever way its step is executed: one by one (`dispatch_due`) or in a worker's batch
(`execute_steps`), where void, mark uncollectible and team email steps act as a set.

The event that ends each run is recorded but not handled (its task is queued, or lost), so
only the step's own check can stop it: the step is skipped with the reason, the run ends, and
nothing is sent or changed."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from moneyed import Money

from automations.engine.dispatch import claim_due, dispatch_due, execute_steps
from automations.engine.handling import handle_event
from automations.models import Run, RunStep
from billing import jobs, services
from billing.models import AccountSettings, Event, RetryPolicy
from notifications.models import OutboundEmail, WebhookDelivery, WebhookEndpoint
from tests.automations.test_engine import automation
from tests.factories import DECLINED_CARD, make_customer, make_invoice, make_price

pytestmark = pytest.mark.django_db

DAY0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
MEMO = {"recipient": "ops@relance.example", "message": "Look at {number}"}
PARAMS = {
    "send_team_email": MEMO,
    "send_custom_event_webhook": {"label": "heads_up"},
    "set_retry_policy": {"policy": "Patient"},
}


@pytest.fixture(autouse=True)
def _setting(monkeypatch):
    """Events are recorded, not handled at commit (each test handles the ones that start runs);
    the team's domain allows the memo, and an endpoint listens to every automation webhook."""
    monkeypatch.setattr("automations.queue.async_task", lambda *args, **kwargs: None)
    monkeypatch.setattr("notifications.queue.async_task", lambda *args, **kwargs: None)
    account = AccountSettings.load()
    account.team_email_domains = ["relance.example"]
    account.save()
    RetryPolicy.objects.create(name="Patient", max_retries=3, within_days=14)
    WebhookEndpoint.objects.create(
        url="https://hooks.acme.example/relance",
        enabled_events=["customer.subscription.custom_event", "invoice.will_be_due", "quote.will_expire"],
        secret="whsec_test",
    )


def _days(n: int, direction: str = "") -> dict:
    return {"amount": n, "unit": "days"} | ({"direction": direction} if direction else {})


def _latest(obj, type_: str) -> int:
    return Event.objects.filter(object_id=obj.public_id, type=type_).latest("pk").pk


# --- runs started by real events, at DAY0 -----------------------------------------------------------


def _send_invoice():
    invoice = services.invoice_create(
        customer=make_customer(), collection_method="send_invoice", due_date=DAY0 + timedelta(days=10),
        lines=[services.LineItem(description="Audit", unit_amount=Money(900, "EUR"))],
    )  # fmt: skip
    invoice = services.invoice_finalize(invoice=invoice)
    handle_event(_latest(invoice, "invoice.finalized"))
    return invoice


def _overdue_invoice():
    invoice = make_invoice(customer=make_customer(), due_date=DAY0 - timedelta(days=1))
    jobs.run_overdue()
    handle_event(_latest(invoice, "invoice.overdue"))
    return invoice


def _failed_payment():
    subscription = services.subscription_create(
        customer=make_customer(default_payment_method=DECLINED_CARD), items=[(make_price(), 1)]
    )
    invoice = subscription.invoices.get()
    handle_event(_latest(invoice, "invoice.payment_failed"))
    return invoice


def _open_quote():
    quote = services.quote_create(
        customer=make_customer(), lines=[services.LineItem(description="Plan", unit_amount=Money(100, "EUR"))],
        expires_at=DAY0 + timedelta(days=10),
    )  # fmt: skip
    quote = services.quote_finalize(quote=quote)
    handle_event(_latest(quote, "quote.finalized"))
    return quote


def _cancel_scheduled():
    subscription = services.subscription_create(customer=make_customer(), items=[(make_price(), 1)])
    subscription = services.subscription_schedule_cancel(subscription=subscription, at=DAY0 + timedelta(days=20))
    handle_event(_latest(subscription, "customer.subscription.updated"))
    return subscription


def _pause_scheduled(starts: int = 4, resumes: int = 6):
    subscription = services.subscription_create(customer=make_customer(), items=[(make_price(), 1)])
    subscription = services.subscription_pause_collection(
        subscription=subscription, starts_at=DAY0 + timedelta(days=starts), resumes_at=DAY0 + timedelta(days=resumes)
    )
    handle_event(_latest(subscription, "customer.subscription.updated"))
    return subscription


@dataclass(frozen=True)
class Case:
    trigger: str
    make: Callable
    delay: dict  # the step's: before the end condition is met, the run is active
    end: Callable  # makes the end condition hold (its event is not handled)
    already: str  # the step's reason
    reason: str  # the run's
    at: timedelta  # when the step is due (after the end, before the anchor date)


CASES = {
    "finalized, paid": Case(
        "invoice.finalized", _send_invoice, _days(3), lambda i: services.invoice_mark_paid(invoice=i),
        "invoice already paid", "invoice paid", timedelta(days=3, minutes=1),
    ),
    "finalized, voided": Case(
        "invoice.finalized", _send_invoice, _days(3), lambda i: services.invoice_void(invoice=i),
        "invoice already voided", "invoice voided", timedelta(days=3, minutes=1),
    ),
    "finalized, uncollectible": Case(
        "invoice.finalized", _send_invoice, _days(3), lambda i: services.invoice_mark_uncollectible(invoice=i),
        "invoice already marked uncollectible", "invoice marked uncollectible", timedelta(days=3, minutes=1),
    ),
    "due date, paid": Case(
        "invoice.due_date_upcoming", _send_invoice, _days(2, "before"),
        lambda i: services.invoice_mark_paid(invoice=i),
        "invoice already paid", "invoice paid", timedelta(days=8, minutes=1),
    ),
    "due date, auto_advance off": Case(
        "invoice.due_date_upcoming", _send_invoice, _days(2, "before"),
        lambda i: services.invoice_update(invoice=i, auto_advance=False),
        "auto_advance already turned off", "auto_advance turned off", timedelta(days=8, minutes=1),
    ),
    "overdue, paid": Case(
        "invoice.overdue", _overdue_invoice, _days(3), lambda i: services.invoice_mark_paid(invoice=i),
        "invoice already paid", "invoice paid", timedelta(days=3, minutes=1),
    ),
    "overdue, voided": Case(
        "invoice.overdue", _overdue_invoice, _days(3), lambda i: services.invoice_void(invoice=i),
        "invoice already voided", "invoice voided", timedelta(days=3, minutes=1),
    ),
    "payment failed, paid": Case(
        "subscription.payment_failed", _failed_payment, _days(1), lambda i: services.invoice_mark_paid(invoice=i),
        "invoice already paid", "invoice paid", timedelta(days=1, minutes=1),
    ),
    "payment failed, voided": Case(
        "subscription.payment_failed", _failed_payment, _days(1), lambda i: services.invoice_void(invoice=i),
        "invoice already voided", "invoice voided", timedelta(days=1, minutes=1),
    ),
    "quote, accepted": Case(
        "quote.expiring", _open_quote, _days(2, "before"), lambda q: services.quote_accept(quote=q),
        "quote already accepted", "quote accepted", timedelta(days=8, minutes=1),
    ),
    "quote, canceled": Case(
        "quote.expiring", _open_quote, _days(2, "before"), lambda q: services.quote_cancel(quote=q),
        "quote already canceled", "quote canceled", timedelta(days=8, minutes=1),
    ),
    "cancellation unscheduled": Case(
        "subscription.cancel_scheduled", _cancel_scheduled, _days(3, "before"),
        lambda s: services.subscription_unschedule_cancel(subscription=s),
        "the subscription no longer ends in cancellation", "the subscription no longer ends in cancellation",
        timedelta(days=17, minutes=1),
    ),
    "pause withdrawn": Case(
        "subscription.pause_scheduled", _pause_scheduled, _days(1, "before"),
        lambda s: services.subscription_resume_collection(subscription=s),
        "the pause was already withdrawn", "the pause was withdrawn", timedelta(days=3, minutes=1),
    ),
    "canceled before the pause": Case(
        "subscription.pause_scheduled", _pause_scheduled, _days(1, "before"),
        lambda s: services.subscription_cancel(subscription=s),
        "the subscription was canceled before the pause started",
        "the subscription was canceled before the pause started", timedelta(days=3, minutes=1),
    ),
}  # fmt: skip

INVOICE_ENDS = [
    "finalized, paid", "finalized, voided", "finalized, uncollectible", "due date, paid",
    "due date, auto_advance off", "overdue, paid", "overdue, voided", "payment failed, paid", "payment failed, voided",
]  # fmt: skip
ACTION_CASES = (
    [("send_team_email", case) for case in CASES]
    + [(action, case) for action in ("void_invoice", "mark_invoice_uncollectible") for case in INVOICE_ENDS
       if not case.startswith("due date")]
    + [("send_custom_event_webhook", case) for case in
       ("payment failed, paid", "payment failed, voided", "cancellation unscheduled", "pause withdrawn",
        "canceled before the pause")]
    + [("send_invoice_will_be_due_webhook", case) for case in ("due date, paid", "due date, auto_advance off")]
    + [("send_quote_will_expire_webhook", case) for case in ("quote, accepted", "quote, canceled")]
    + [(action, case) for action in ("set_retry_policy", "mark_subscription_unpaid", "cancel_subscription",
                                     "email_customer") for case in ("payment failed, paid", "payment failed, voided")]
)  # fmt: skip


def _one_by_one() -> int:
    return dispatch_due()


def _in_a_batch() -> int:
    """As a worker's task takes them: claimed together, executed as one batch (sets included)."""
    return execute_steps(claim_due(100))


PATHS = {"one by one": _one_by_one, "in a batch": _in_a_batch}


def _effects() -> tuple[int, int, int]:
    """Whatever a step could cause: billing events (every billing change records one), emails,
    webhook deliveries."""
    return Event.objects.count(), OutboundEmail.objects.count(), WebhookDelivery.objects.count()


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize(("action", "case"), ACTION_CASES, ids=[f"{a}: {c}" for a, c in ACTION_CASES])
def test_every_action_whose_runs_end_condition_holds_at_its_time_is_skipped_and_acts_on_nothing(action, case, path):
    case = CASES[case]
    automation(case.trigger, [{"action": action, "delay": case.delay, "params": PARAMS.get(action, {})}])
    with time_machine.travel(DAY0, tick=False):
        objects = [case.make() for _ in range(2)]  # two runs: in a batch, a set of two
    runs = list(Run.objects.filter(trigger=case.trigger, status="active"))
    assert len(runs) == 2
    with time_machine.travel(DAY0 + timedelta(days=2), tick=False):
        for obj in objects:
            case.end(obj)  # its event is recorded, not handled
    before = _effects()
    with time_machine.travel(DAY0 + case.at, tick=False):
        assert PATHS[path]() == 2
    for run in runs:
        run.refresh_from_db()
        assert (run.status, run.reason) == ("ended", case.reason)
        step = run.steps.get()
        assert (step.status, step.error) == ("skipped", f"the run's end condition holds: {case.already}")
    assert _effects() == before


@pytest.mark.parametrize("path", list(PATHS))
def test_a_set_of_memos_mixing_ended_runs_of_every_trigger_sends_only_those_of_runs_going_on(path):
    """One team-email set (in a batch) over runs of every trigger, all due at one moment (day 7):
    each ended run's step is skipped with its own reason, and the memos of the runs going on are
    sent: an invoice still open, a pause that ended on schedule (days 4 to 6), and a pause that
    started on day 4 and whose subscription was canceled afterwards (neither is a withdrawal)."""
    for trigger in {case.trigger for case in CASES.values()}:
        automation(trigger, [{"action": "send_team_email", "delay": _days(1, "before"), "params": MEMO}])
    ended = {}
    with time_machine.travel(DAY0, tick=False):
        made = {name: CASES[name].make() for name in ENDED_IN_THE_SET}
        made["pause withdrawn"] = _pause_scheduled(starts=10, resumes=12)
        made["canceled before the pause"] = _pause_scheduled(starts=10, resumes=12)
        going_on = [_send_invoice(), _pause_scheduled(), _pause_scheduled()]
    with time_machine.travel(DAY0 + timedelta(days=2), tick=False):
        for name, obj in made.items():
            CASES[name].end(obj)
            ended[obj.public_id] = CASES[name]
    with time_machine.travel(DAY0 + timedelta(days=4, minutes=1), tick=False):
        jobs.run_pauses()  # the two pauses of days 4 to 6 start
        services.subscription_cancel(subscription=going_on[2])  # after its pause started: not an end
    moment = DAY0 + timedelta(days=7)
    with time_machine.travel(moment, tick=False):
        jobs.run_pauses()  # the first one's collection resumes as planned (day 6)
        due = RunStep.objects.filter(status="pending")
        count = due.count()
        due.update(scheduled_at=moment - timedelta(minutes=1))
        assert PATHS[path]() == count
    for obj_id, case in ended.items():
        step = RunStep.objects.get(run__object_id=obj_id, run__trigger=case.trigger)
        assert (step.status, step.error) == ("skipped", f"the run's end condition holds: {case.already}"), case
        assert (step.run.status, step.run.reason) == ("ended", case.reason)
    # An invoice's finalization starts two runs (finalized, due date): turning auto_advance off
    # ends only the due-date one.
    still_open = made["due date, auto_advance off"]
    sent = [RunStep.objects.get(run__object_id=still_open.public_id, run__trigger="invoice.finalized")]
    sent += RunStep.objects.filter(run__object_id__in=[obj.public_id for obj in going_on])
    assert len(sent) == 5
    for step in sent:
        assert step.status == "succeeded", (step.run.trigger, step.error, step.run.reason)
    assert OutboundEmail.objects.count() == len(sent)


ENDED_IN_THE_SET = [
    "finalized, paid", "due date, auto_advance off", "overdue, voided", "payment failed, voided", "quote, accepted",
    "cancellation unscheduled",
]  # fmt: skip
