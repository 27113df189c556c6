"""What automations add to a billing object's detail page: the runs on the object, and under
each of its events the engine's matching record in words.

Billing knows nothing about automations: `AutomationsConfig.ready()` registers
`object_panel` in billing's DETAIL_PANELS. Two queries whatever the data size: one for the
runs (with their current step as subqueries), one for the matching records of the events shown.
"""

from dataclasses import dataclass

from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.http import HttpRequest
from django.urls import reverse

from automations.engine.actions import ACTIONS
from automations.models import MatchingRecord, Run, RunStep, StepStatus
from automations.triggers import TRIGGERS
from billing.models import Event

RUNS_SHOWN = 20
OBJECTS_WITH_RUNS = {"invoice", "subscription", "quote"}


def object_runs(public_id: str, limit: int = RUNS_SHOWN) -> list[Run]:
    """The newest runs on one billing object, each annotated with its current (or next) step."""
    current = RunStep.objects.filter(run=OuterRef("pk"), status__in=[StepStatus.PENDING, StepStatus.RUNNING]).order_by(
        "position"
    )
    total = RunStep.objects.filter(run=OuterRef("pk")).values("run").annotate(n=Count("pk")).values("n")
    runs: QuerySet[Run] = (
        Run.objects.filter(object_id=public_id)
        .select_related("automation")
        .annotate(
            step_count=Subquery(total),
            step_position=Subquery(current.values("position")[:1]),
            step_action=Subquery(current.values("action")[:1]),
            step_status=Subquery(current.values("status")[:1]),
            step_scheduled_at=Subquery(current.values("scheduled_at")[:1]),
        )
        .order_by("-started_at", "-id")
    )
    rows = list(runs[:limit])
    for run in rows:
        action = ACTIONS.get(run.step_action or "")
        run.step_label = action.label if action else (run.step_action or "")
    return rows


@dataclass(frozen=True)
class CheckLine:
    """One automation the engine checked for an event, and what it found."""

    name: str
    automation_id: str
    matched: bool
    filter: str = ""
    expected: str = ""
    found: str = ""


@dataclass(frozen=True)
class RecordInWords:
    trigger_label: str
    checks: list[CheckLine]
    outcome: str
    run: Run | None


def _record(record: MatchingRecord) -> RecordInWords:
    trigger = TRIGGERS.get(record.trigger)
    checks = [
        CheckLine(
            name=str(check.get("name", "")),
            automation_id=str(check.get("automation", "")),
            matched=bool(check.get("matched")),
            filter=str(check.get("filter", "")),
            expected=str(check.get("expected", "")),
            found=str(check.get("found", "")),
        )
        for check in record.checks
        if isinstance(check, dict)
    ]
    return RecordInWords(trigger.label if trigger else record.trigger, checks, record.outcome, record.run)


def matching_records(events: list[Event]) -> dict[int, list[RecordInWords]]:
    """The matching records of these events (one query), by event pk, in trigger order."""
    by_event: dict[int, list[RecordInWords]] = {}
    records = (
        MatchingRecord.objects.filter(event__in=[event.pk for event in events])
        .select_related("run__automation")
        .order_by("event_id", "trigger")
    )
    for record in records:
        by_event.setdefault(record.event_id, []).append(_record(record))
    return by_event


def object_panel(request: HttpRequest, obj, events: list[Event]) -> dict | None:
    """The runs panel and the matching records of a billing object's detail page."""
    kind = obj._meta.model_name
    if kind not in OBJECTS_WITH_RUNS:
        return None
    records = matching_records(events) if events else {}
    return {
        "template": "automations/_object_runs.html",
        "context": {
            "runs": object_runs(obj.public_id),
            "limit": RUNS_SHOWN,
            "kind": obj._meta.verbose_name,
            # "Which automation would run?": loaded apart (it reads the automations), a page of its own too
            "dry_run_url": reverse("object_dry_run", args=[kind, obj.public_id]),
        },
        "event_template": "automations/_event_matching.html",
        "event_contexts": {pk: {"records": rows} for pk, rows in records.items()},
    }
