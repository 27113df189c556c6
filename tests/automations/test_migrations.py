"""Installs already hold runs, events and matching records: the migration that renames
EventHandling to MatchingRecord keeps the rows and their links, both ways."""

from datetime import UTC, datetime

import pytest
from django.db import IntegrityError, transaction

BEFORE = ("automations", "0005_document_fields")
RENAMED = ("automations", "0006_matching_record")
AT = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def _fill(apps) -> tuple[int, int, int]:
    """A run started by an event, and the event's matching record linked to both."""
    Event = apps.get_model("billing", "Event")
    Automation = apps.get_model("automations", "Automation")
    AutomationVersion = apps.get_model("automations", "AutomationVersion")
    Run = apps.get_model("automations", "Run")
    EventHandling = apps.get_model("automations", "EventHandling")
    event = Event.objects.create(
        type="invoice.overdue", created=AT, object_type="invoice", object_id="in_1", data_object={}
    )
    automation = Automation.objects.create(name="Overdue reminders", trigger="invoice.overdue", priority=1)
    version = AutomationVersion.objects.create(automation=automation, number=1)
    run = Run.objects.create(
        automation=automation, version=version, trigger="invoice.overdue", event=event,
        object_type="invoice", object_id="in_1", started_at=AT,
    )  # fmt: skip
    record = EventHandling.objects.create(
        event=event, trigger="invoice.overdue", handled_at=AT, checks=[{"name": "Overdue reminders"}],
        outcome="started", run=run,
    )  # fmt: skip
    return record.pk, event.pk, run.pk


def _assert_intact(record, event_pk: int, run_pk: int) -> None:
    assert (record.event_id, record.run_id) == (event_pk, run_pk)
    assert (record.trigger, record.outcome, record.handled_at) == ("invoice.overdue", "started", AT)
    assert record.checks == [{"name": "Overdue reminders"}]
    assert record.run.event_id == event_pk


def test_it_keeps_the_matching_records_and_their_links_when_renaming_the_model_and_back(migrator):
    before = migrator.apply_initial_migration(BEFORE)
    record_pk, event_pk, run_pk = _fill(before.apps)

    after = migrator.apply_tested_migration(RENAMED)
    MatchingRecord = after.apps.get_model("automations", "MatchingRecord")
    _assert_intact(MatchingRecord.objects.get(pk=record_pk), event_pk, run_pk)
    assert after.apps.get_model("automations", "Run").objects.get(pk=run_pk).matching_record.pk == record_pk

    back = migrator.apply_tested_migration(BEFORE)
    EventHandling = back.apps.get_model("automations", "EventHandling")
    _assert_intact(EventHandling.objects.get(pk=record_pk), event_pk, run_pk)


def test_it_refuses_a_second_matching_record_for_one_event_and_trigger_after_the_rename(migrator):
    before = migrator.apply_initial_migration(BEFORE)
    record_pk, event_pk, run_pk = _fill(before.apps)

    after = migrator.apply_tested_migration(RENAMED)
    MatchingRecord = after.apps.get_model("automations", "MatchingRecord")
    with pytest.raises(IntegrityError), transaction.atomic():
        MatchingRecord.objects.create(event_id=event_pk, trigger="invoice.overdue", handled_at=AT, outcome="again")
