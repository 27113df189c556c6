"""run_due: everything due up to a moment, run here in the worker's order until idle."""

from datetime import timedelta

import pytest
from django.utils import timezone
from moneyed import Money

from automations.engine.clockwork import next_step_due, run_due
from automations.models import HandledEvent, Run
from billing import clock, services
from billing.jobs import JOBS
from billing.models import AccountSettings, Event
from tests.automations.test_engine import VOID, automation
from tests.factories import make_customer, make_invoice

pytestmark = pytest.mark.django_db

MEMO = {"recipient": "ops@relance.example", "message": "Look at {number}"}


def memo(amount: int, direction: str = "after") -> dict:
    delay = {"amount": amount, "unit": "days", "direction": direction}
    return {"action": "send_team_email", "delay": delay, "params": MEMO}


@pytest.fixture(autouse=True)
def team_domain():
    account = AccountSettings.load()
    account.team_email_domains = ["relance.example"]
    account.save()


def test_it_runs_the_jobs_then_handles_their_events_then_runs_the_due_steps_until_idle():
    automation("invoice.overdue", [VOID])
    invoice = make_invoice(customer=make_customer(), due_date=timezone.now() - timedelta(days=1))

    done = run_due(timezone.now())

    assert set(done.jobs) == set(JOBS) and done.jobs["overdue"] == 1
    invoice.refresh_from_db()
    assert invoice.status == "void"  # the overdue job flagged it, the run it started voided it
    assert Run.objects.get().status == "completed"
    assert Event.objects.filter(type="invoice.voided").exists()  # recorded by the step, handled after it
    assert HandledEvent.objects.count() == Event.objects.count() == done.events
    assert done.steps == 1
    assert run_due(timezone.now()).idle


def test_it_leaves_steps_not_yet_due_and_runs_them_once_the_clock_reaches_them():
    with clock.travel(timezone.now() - timedelta(days=3)):
        automation("invoice.overdue", [memo(0), memo(2)])
        make_invoice(customer=make_customer(), due_date=clock.now() - timedelta(days=1))
    start = timezone.now() - timedelta(days=3)

    assert run_due(start).steps == 1
    second = Run.objects.get().steps.get(position=2)
    assert next_step_due(after=start) == second.scheduled_at == start + timedelta(days=2)
    assert run_due(start + timedelta(days=1), jobs=False).idle
    assert run_due(start + timedelta(days=2), jobs=False).steps == 1
    assert Run.objects.get().status == "completed"
    assert next_step_due(after=start + timedelta(days=2)) is None


def test_a_step_due_waits_while_an_earlier_step_of_its_run_is_unfinished():
    """Anchored steps: the second (5 days before expiry) is due before the first (3 days before)."""
    automation("quote.expiring", [memo(3, "before"), memo(5, "before")])
    now = timezone.now()
    with clock.travel(now):
        quote = services.quote_create(
            customer=make_customer(),
            lines=[services.LineItem(description="Plan", unit_amount=Money(100, "EUR"))],
            expires_at=now + timedelta(days=10),
        )
        services.quote_finalize(quote=quote)
    assert run_due(now, jobs=False).steps == 0  # the run starts (quote.finalized): no step is due yet

    assert run_due(now + timedelta(days=6), jobs=False).steps == 0  # the second is due, the first is not
    first, second = Run.objects.get().steps.order_by("position")
    assert second.scheduled_at < now + timedelta(days=6) < first.scheduled_at
    assert second.status == "pending"
    assert run_due(now + timedelta(days=7), jobs=False).steps == 2
