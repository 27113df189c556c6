"""One run per event and trigger, even when the event is handled concurrently (PostgreSQL)."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from automations.engine.handling import handle_event
from automations.models import HandledEvent, MatchingRecord, Run
from billing import jobs
from billing.models import Event
from tests.automations.test_engine import VOID, automation
from tests.factories import make_invoice

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_the_same_event_handled_five_times_by_four_workers_at_once_starts_one_run(monkeypatch):
    monkeypatch.setattr("automations.queue.async_task", lambda *args, **kwargs: None)  # no handling at commit
    automation("invoice.overdue", [VOID])
    make_invoice(due_date=timezone.now() - timedelta(days=1))
    jobs.run_overdue()
    event = Event.objects.get(type="invoice.overdue")
    barrier = threading.Barrier(4)
    results, errors = [], []

    def work():
        try:
            barrier.wait()
            for _ in range(5):
                results.append(handle_event(event.pk))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert results.count(True) == 1 and len(results) == 20
    assert Run.objects.count() == 1
    assert MatchingRecord.objects.count() == 1 and HandledEvent.objects.count() == 1
