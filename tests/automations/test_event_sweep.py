"""The dispatcher's sweep for events whose task was lost: it remembers how far every event is
handled, so a pass reads only the events since (not three days of them), and starts from the
beginning again once an hour."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from automations.engine.handling import EventSweep
from automations.models import AutomationVersion, HandledEvent, Run
from billing import jobs
from billing.models import Event
from billing.services import customer_create
from tests.automations.test_engine import VOID, automation
from tests.factories import make_invoice

pytestmark = pytest.mark.django_db


def _lost_overdue_event() -> Event:
    """An invoice.overdue whose task is lost (committed callbacks never run here)."""
    make_invoice(due_date=timezone.now() - timedelta(days=1))
    jobs.run_overdue()
    return Event.objects.filter(type="invoice.overdue").latest("pk")


def test_a_pass_handles_the_lost_events_once_they_settle_then_moves_past_them():
    automation("invoice.overdue", [VOID])
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        first = _lost_overdue_event()
        sweep = EventSweep()
        assert sweep.run() == 0  # its task may be on its way still
    with time_machine.travel(start + timedelta(minutes=2), tick=False):
        assert sweep.run() == 1
        assert sweep.handled_to < first.pk  # not old enough to be passed yet: a later commit may still come
    with time_machine.travel(start + timedelta(minutes=7), tick=False):
        assert sweep.run() == 0
        assert sweep.handled_to == first.pk
        second = _lost_overdue_event()
    with time_machine.travel(start + timedelta(minutes=9), tick=False):
        assert sweep.run() == 1  # the events after the mark are still read
    assert Run.objects.count() == 2
    assert set(HandledEvent.objects.values_list("event_id", flat=True)) == {first.pk, second.pk}


def test_an_event_below_the_mark_is_found_by_the_hourly_full_pass():
    automation("invoice.overdue", [VOID])
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        event = _lost_overdue_event()
        sweep = EventSweep()
        sweep.run()
    sweep.handled_to = event.pk  # as if it had been passed: a transaction that committed very late
    with time_machine.travel(start + timedelta(minutes=10), tick=False):
        assert sweep.run() == 0
    with time_machine.travel(start + timedelta(minutes=61), tick=False):
        assert sweep.run() == 1
    assert HandledEvent.objects.filter(event=event).exists()


def test_a_full_pass_stops_at_the_last_event_it_looked_at(monkeypatch):
    automation("invoice.overdue", [VOID])
    start = timezone.now()
    monkeypatch.setattr(EventSweep, "LIMIT", 2)
    with time_machine.travel(start, tick=False):
        events = [_lost_overdue_event() for _ in range(3)]
        sweep = EventSweep()
    with time_machine.travel(start + timedelta(minutes=10), tick=False):
        assert sweep.run() == 2
        assert sweep.handled_to == events[1].pk  # the third was not looked at yet
        assert sweep.run() == 1
    assert HandledEvent.objects.count() == 3


def test_an_event_the_engine_cannot_handle_is_logged_and_the_others_are_still_handled(caplog):
    unreadable = automation("invoice.overdue", [VOID])
    # A version row the engine cannot read (written by hand, or by another release).
    AutomationVersion.objects.filter(automation=unreadable).update(filters=["not a filter"])
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        poison = _lost_overdue_event()
        customer_create(name="Later", email="later@example.com")  # a customer.created, lost too
    others = set(Event.objects.exclude(pk=poison.pk).values_list("pk", flat=True))
    assert len(others) == 1
    sweep = EventSweep()
    with time_machine.travel(start + timedelta(minutes=10), tick=False), caplog.at_level("ERROR"):
        assert sweep.run() == len(others)  # the dispatcher's loop goes on
    assert [r.getMessage() for r in caplog.records] == [
        f"event {poison.pk} could not be handled; the sweep tries it again"
    ]
    assert set(HandledEvent.objects.values_list("event_id", flat=True)) == others
    assert sweep.handled_to < poison.pk  # the next pass tries it again

    AutomationVersion.objects.filter(automation=unreadable).update(filters=[])  # the definition is repaired
    with time_machine.travel(start + timedelta(minutes=11), tick=False):
        assert sweep.run() == 1
    assert Run.objects.get().event_id == poison.pk
    assert sweep.handled_to == max(others)
