"""ops 0002 (one heartbeat row per process): the old per-kind rows are not kept (a heartbeat is
rewritten within a minute), the one-minute heartbeat schedule goes, and migrating back works."""

from datetime import UTC, datetime

import pytest
from django.db import IntegrityError, transaction

DJANGO_Q = ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more")
BEFORE = [("ops", "0001_initial"), DJANGO_Q]
PER_PROCESS = ("ops", "0002_heartbeat_per_process")
AT = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def test_it_moves_to_one_heartbeat_per_process_without_the_minute_schedule_and_back(migrator):
    before = migrator.apply_initial_migration(BEFORE)
    before.apps.get_model("ops", "Heartbeat").objects.create(name="dispatcher", beat_at=AT, host="box", pid=7)
    Schedule = before.apps.get_model("django_q", "Schedule")
    Schedule.objects.create(name="ops:heartbeat", func="ops.tasks.heartbeat", schedule_type="I", minutes=1)
    Schedule.objects.create(name="billing:jobs", func="billing.tasks.run_jobs", schedule_type="I", minutes=1)

    after = migrator.apply_tested_migration(PER_PROCESS)
    Heartbeat = after.apps.get_model("ops", "Heartbeat")
    assert not Heartbeat.objects.exists()
    assert list(after.apps.get_model("django_q", "Schedule").objects.values_list("name", flat=True)) == ["billing:jobs"]
    Heartbeat.objects.create(kind="worker", host="box", pid=7, started_at=AT, beat_at=AT)
    with pytest.raises(IntegrityError), transaction.atomic():
        Heartbeat.objects.create(kind="worker", host="box", pid=7, started_at=AT, beat_at=AT)

    back = migrator.apply_tested_migration(BEFORE)
    OldHeartbeat = back.apps.get_model("ops", "Heartbeat")
    OldHeartbeat.objects.create(name="dispatcher", beat_at=AT, host="box", pid=7)
    assert OldHeartbeat.objects.get(pk="dispatcher").pid == 7
