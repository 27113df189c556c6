"""Writing what a batch of events starts (`handling.handle_batch`): runs, their steps, the
matching records and the handled marks, in the caller's transaction.

On PostgreSQL, one statement writes the four tables: the rows travel as one JSON document per
table (encoded by the json module's C encoder, read by `jsonb_array_elements`), each distinct
list of checks once (the events of a batch mostly share them), and steps and records find their
run by (event, trigger), unique. Elsewhere (SQLite), Django's bulk_create writes them. The unique
constraints on (event, trigger) and on the handled event fail the whole write if another worker
handled one of the events meanwhile: the caller rolls back and handles them one by one.
"""

import json
from dataclasses import dataclass
from datetime import datetime

from django.db import connection

from automations.engine.runs import ALL_SKIPPED, step_rows
from automations.models import Automation, HandledEvent, MatchingRecord, Run, RunStatus, RunStep, StepStatus
from billing.models import Event
from billing.models.fields import new_public_id


@dataclass(slots=True)
class NewRun:
    """A run to start, and its steps' (scheduled time, status, error) in position order."""

    automation: Automation
    event: Event
    trigger: str
    anchor: datetime | None
    steps: list[tuple[datetime, str, str]]

    @property
    def completed(self) -> bool:
        """Every step's time had passed: the run is completed from the start (as `build_run`)."""
        return all(status == StepStatus.SKIPPED for _, status, _ in self.steps)


@dataclass(slots=True)
class NewRecord:
    """The matching record of one event and trigger; `run` the run it starts, if any."""

    event: Event
    trigger: str
    checks: list[dict]
    outcome: str
    run: NewRun | None


def write(runs: list[NewRun], records: list[NewRecord], events: list[Event], *, now: datetime) -> None:
    """Insert the runs with their steps, the records and a handled mark per event (`now`)."""
    if connection.vendor == "postgresql":
        _write_sql(runs, records, events, now)
    else:
        _write_models(runs, records, events, now)


def _write_models(runs: list[NewRun], records: list[NewRecord], events: list[Event], now: datetime) -> None:
    saved, steps = {}, []
    for new in runs:
        version = new.automation.current_version
        run = Run(
            automation=new.automation, version=version, trigger=new.trigger, event=new.event,
            object_type=new.event.object_type, object_id=new.event.object_id, anchor_at=new.anchor,
            status=RunStatus.ACTIVE, started_at=now, test_clock_id=new.event.test_clock_id,
        )  # fmt: skip
        if new.completed:
            run.status, run.reason, run.finished_at = RunStatus.COMPLETED, ALL_SKIPPED, now
        saved[id(new)] = run
        steps += step_rows(run, version, new.steps)
    Run.objects.bulk_create(saved.values())
    for step in steps:
        step.run = step.run  # the run's id, now that it has one
    RunStep.objects.bulk_create(steps)
    MatchingRecord.objects.bulk_create(
        MatchingRecord(
            event=record.event,
            trigger=record.trigger,
            handled_at=now,
            checks=record.checks,
            outcome=record.outcome,
            run=saved[id(record.run)] if record.run else None,
        )  # fmt: skip
        for record in records
    )
    HandledEvent.objects.bulk_create([HandledEvent(event=event, handled_at=now) for event in events])


def _time(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _write_sql(runs: list[NewRun], records: list[NewRecord], events: list[Event], now: datetime) -> None:
    run_rows, step_rows = [], []
    for new in runs:
        event, version = new.event, new.automation.current_version
        completed = new.completed
        run_rows.append(
            [
                new_public_id("run"),
                new.automation.pk,
                version.pk,
                new.trigger,
                event.pk,
                event.object_type,
                event.object_id,
                _time(new.anchor),
                RunStatus.COMPLETED if completed else RunStatus.ACTIVE,
                ALL_SKIPPED if completed else "",
                event.test_clock_id,
                _time(now) if completed else None,
            ]  # fmt: skip
        )
        for position, (definition, (moment, status, error)) in enumerate(zip(version.steps, new.steps, strict=True), 1):
            step_rows.append(
                [
                    event.pk,
                    new.trigger,
                    position,
                    definition["action"],
                    definition.get("params", {}),
                    definition["delay"],
                    moment.isoformat(),
                    status,
                    error,
                ]  # fmt: skip
            )
    patterns: dict[int, int] = {}  # id of a list of checks -> its index in `checks`
    checks, record_rows = [], []
    for record in records:
        index = patterns.get(id(record.checks))
        if index is None:
            index = patterns[id(record.checks)] = len(checks)
            checks.append(record.checks)
        record_rows.append([record.event.pk, record.trigger, index, record.outcome])
    params = {
        "now": now,
        "runs": json.dumps(run_rows),
        "steps": json.dumps(step_rows),
        "checks": json.dumps(checks),
        "records": json.dumps(record_rows),
        "events": [event.pk for event in events],
    }
    with connection.cursor() as cursor:
        # One round trip: a statement's wait for the server counts under load.
        cursor.execute((LZ4 if _has_lz4(cursor) else "") + INSERT, params)


LZ4 = "SET LOCAL default_toast_compression = lz4;"
_lz4: dict[str, bool] = {}  # by database alias: whether the server was built with lz4


def _has_lz4(cursor) -> bool:
    """A record's checks (8 KB of JSON for 40 automations) are compressed as they are stored:
    pglz, PostgreSQL's default, costs the server ~100 µs a record on this machine, lz4 ~15 µs for
    the same size. The batch's transaction uses lz4 where the server has it (reading either
    needs nothing)."""
    if connection.alias not in _lz4:
        cursor.execute("SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'")
        row = cursor.fetchone()
        _lz4[connection.alias] = bool(row and row[0])
    return _lz4[connection.alias]


INSERT = f"""
WITH new_runs AS (
    INSERT INTO {Run._meta.db_table} (
        public_id, automation_id, version_id, trigger, event_id, object_type, object_id, anchor_at,
        status, reason, test_clock_id, finished_at, started_at
    )
    SELECT r->>0, (r->>1)::bigint, (r->>2)::bigint, r->>3, (r->>4)::bigint, r->>5, r->>6,
        (r->>7)::timestamptz, r->>8, r->>9, r->>10, (r->>11)::timestamptz, %(now)s
    FROM jsonb_array_elements(%(runs)s::jsonb) AS r
    RETURNING id, event_id, trigger
), new_steps AS (
    INSERT INTO {RunStep._meta.db_table} (
        run_id, position, action, params, delay, scheduled_at, status, error, attempts
    )
    SELECT new_runs.id, (s->>2)::smallint, s->>3, s->4, s->5, (s->>6)::timestamptz, s->>7, s->>8, 0
    FROM jsonb_array_elements(%(steps)s::jsonb) AS s
    JOIN new_runs ON new_runs.event_id = (s->>0)::bigint AND new_runs.trigger = s->>1
), checks AS (
    SELECT %(checks)s::jsonb AS lists
), new_records AS (
    INSERT INTO {MatchingRecord._meta.db_table} (event_id, trigger, handled_at, checks, outcome, run_id)
    SELECT (m->>0)::bigint, m->>1, %(now)s, checks.lists -> ((m->>2)::int), m->>3, new_runs.id
    FROM checks, jsonb_array_elements(%(records)s::jsonb) AS m
    LEFT JOIN new_runs ON new_runs.event_id = (m->>0)::bigint AND new_runs.trigger = m->>1
), handled AS (
    INSERT INTO {HandledEvent._meta.db_table} (event_id, handled_at)
    SELECT event_id, %(now)s FROM unnest(%(events)s::bigint[]) AS event_id
)
SELECT 1
"""  # noqa: S608 (table names from the models; the values are parameters)
