"""Downtime: the workers are stopped for 60 s while steps fall due; after the restart every due
step runs within 30 s, and each step's lateness (executed_at − scheduled_at) is on its row."""

import statistics
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from automations.models import RunStep
from billing import services
from notifications.models import OutboundEmail, WebhookDelivery, WebhookEndpoint
from tests.factories import make_invoice
from tests.faults.conftest import TEAM, automation, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

DOWNTIME = 60  # seconds, real: the workers really are stopped
FALLING_DUE = 40  # runs whose steps fall due while the workers are stopped
AFTER_RESTART = 5  # runs whose steps fall due a little after the restart: on time again
CATCH_UP = timedelta(seconds=30)


def _upcoming_due_date_automation(receiver_url: str) -> None:
    """On the due date itself: the invoice.will_be_due webhook, then an email to the team."""
    from billing.models import AccountSettings

    account = AccountSettings.load()
    account.team_email_domains = ["relance.example"]
    account.save()
    WebhookEndpoint.objects.create(url=receiver_url, enabled_events=["invoice.will_be_due"], secret="whsec_downtime")
    on_the_day = {"amount": 0, "unit": "hours", "direction": "before"}
    memo = {"recipient": TEAM, "message": "{number} is due today"}
    automation(
        "invoice.due_date_upcoming",
        [
            {"action": "send_invoice_will_be_due_webhook", "delay": on_the_day, "params": {}},
            {"action": "send_team_email", "delay": {**on_the_day, "direction": "after"}, "params": memo},
        ],
    )


def _invoices_due_at(moments) -> None:
    for moment in moments:
        invoice = make_invoice(status="draft", due_date=moment)
        services.invoice_finalize(invoice=invoice)  # starts the run (handled here, in sync mode)


def test_steps_that_fell_due_while_the_workers_were_stopped_run_within_30_s_of_the_restart(workers, receiver):
    _upcoming_due_date_automation(receiver.url)
    workers.start()
    # Due dates spread over the stop, from 10 s after now to 5 s before the restart.
    first_due = timezone.now() + timedelta(seconds=10)
    spread = (DOWNTIME - 15) / (FALLING_DUE - 1)
    _invoices_due_at(first_due + timedelta(seconds=i * spread) for i in range(FALLING_DUE))
    workers.stop_all()
    stopped_at = timezone.now()
    assert stopped_at < first_due  # nothing was due yet when the workers stopped
    restart_at = stopped_at + timedelta(seconds=DOWNTIME)
    _invoices_due_at(restart_at + timedelta(seconds=5 + i) for i in range(AFTER_RESTART))
    assert RunStep.objects.count() == 2 * (FALLING_DUE + AFTER_RESTART)
    assert not RunStep.objects.exclude(status="pending").exists()

    time.sleep(max(0.0, (restart_at - timezone.now()).total_seconds()))
    due_at_restart = RunStep.objects.filter(scheduled_at__lte=timezone.now()).count()
    assert due_at_restart == 2 * FALLING_DUE  # all fell due while the workers were stopped
    restarted_at = timezone.now()
    workers.start()

    steps = RunStep.objects.all()
    assert wait_for(lambda: not steps.exclude(status="succeeded").exists(), timeout=60), workers.log_tail()
    lateness = {}
    for step in steps:
        lateness[step.pk] = step.executed_at - step.scheduled_at  # recorded on the row: both times are
        assert step.attempts == 1
        assert step.executed_at >= restarted_at  # nothing ran while the workers were stopped
        if step.scheduled_at <= restarted_at:
            assert step.executed_at <= restarted_at + CATCH_UP, (step, lateness[step.pk])
        else:  # fell due after the restart: on time again
            assert lateness[step.pk] <= timedelta(seconds=5), (step, lateness[step.pk])
    assert wait_for(lambda: OutboundEmail.objects.filter(status="sent").count() == FALLING_DUE + AFTER_RESTART, 30)
    assert wait_for(lambda: WebhookDelivery.objects.filter(status="succeeded").count() == FALLING_DUE + AFTER_RESTART)
    assert sorted(receiver.counts().values()) == [1] * (FALLING_DUE + AFTER_RESTART)

    caught_up = max(s.executed_at for s in steps if s.scheduled_at <= restarted_at) - restarted_at
    late = sorted(d.total_seconds() for d in lateness.values())
    on_time = max(lateness[s.pk] for s in steps if s.scheduled_at > restarted_at)
    print(
        f"down {DOWNTIME} s; {due_at_restart} steps due at the restart, all done {caught_up.total_seconds():.1f} s "
        f"after it; lateness p50 {statistics.median(late):.1f} s, max {late[-1]:.1f} s; steps due after the "
        f"restart late by at most {on_time.total_seconds():.2f} s"
    )
