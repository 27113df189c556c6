"""A worker's batch of steps when the database goes away under it (a restart)."""

import logging

import pytest
from django.db import connection

from automations.engine import dispatch
from automations.models import RunStep
from tests.automations.test_engine import VOID, _overdue_invoice, automation
from tests.automations.test_outages import terminate_backend

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_a_batch_that_loses_its_database_logs_one_line_and_keeps_its_claims(caplog, django_capture_on_commit_callbacks):
    automation("invoice.overdue", [VOID])
    for _ in range(3):
        _overdue_invoice(django_capture_on_commit_callbacks)
    ids = dispatch.claim_due()
    assert len(ids) == 3
    caplog.clear()
    terminate_backend(connection.connection.info.backend_pid)

    assert dispatch.execute_steps(ids) == 0
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in problems] == [
        "batch of 3 steps not executed: OperationalError: terminating connection due to administrator command"
    ]
    assert not problems[0].exc_info  # not a traceback per step, nor one for the batch
    # Still claimed: once their lease runs out, they are claimed and executed again.
    steps = RunStep.objects.filter(pk__in=ids)
    assert [(s.status, s.attempts) for s in steps] == [("running", 1)] * 3
    assert dispatch.dispatch_due() == 0  # not before the lease runs out


def test_a_batch_of_events_that_loses_its_database_logs_one_line(caplog, django_capture_on_commit_callbacks):
    from automations.tasks import handle_events
    from billing.models import Event

    automation("invoice.overdue", [VOID])
    _overdue_invoice(django_capture_on_commit_callbacks)
    ids = list(Event.objects.values_list("pk", flat=True))
    caplog.clear()
    terminate_backend(connection.connection.info.backend_pid)

    assert handle_events(ids) == 0  # the engine's sweep handles whatever they left unhandled
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in problems] == [
        f"batch of {len(ids)} events not handled: OperationalError: terminating connection due to administrator command"
    ]
    assert not problems[0].exc_info


def test_a_set_of_steps_that_loses_its_database_midway_logs_one_line_not_one_per_step(
    caplog, django_capture_on_commit_callbacks, monkeypatch
):
    from automations.engine.actions import ACTIONS

    automation("invoice.overdue", [VOID])
    for _ in range(3):
        _overdue_invoice(django_capture_on_commit_callbacks)
    ids = dispatch.claim_due()
    void = ACTIONS["void_invoice"]
    real = type(void).execute_set

    def restart_midway(self, steps, objects):
        terminate_backend(connection.connection.info.backend_pid)  # the set's objects are read and locked: now it goes
        return real(self, steps, objects)

    monkeypatch.setattr(type(void), "execute_set", restart_midway)
    caplog.clear()
    assert dispatch.execute_steps(ids) == 0
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(problems) == 1 and not problems[0].exc_info
    assert problems[0].getMessage().startswith("batch of 3 steps not executed: OperationalError")
    assert [(s.status, s.attempts) for s in RunStep.objects.filter(pk__in=ids)] == [("running", 1)] * 3
