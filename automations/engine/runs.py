"""Starting a run for an event, ending runs early, and moving their anchor dates."""

from collections.abc import Callable
from datetime import datetime

from django.db import transaction

from automations.engine.scheduling import anchored_times, relative_times
from automations.models import Automation, AutomationVersion, Run, RunStatus, RunStep, StepStatus
from automations.triggers import TRIGGERS
from billing import clock
from billing.models import Event


def start_run(*, automation: Automation, event: Event, trigger: str, anchor: datetime | None) -> Run:
    """Create the run and its steps, on the automation's current version.

    Steps of a date-anchored trigger whose time has already passed are skipped with the reason,
    never fired late in a burst. A run whose steps were all skipped is completed at once.
    """
    run, steps = build_run(automation=automation, event=event, trigger=trigger, anchor=anchor, now=clock.now())
    run.save(force_insert=True)
    RunStep.objects.bulk_create(steps)
    return run


ALL_SKIPPED = "every step's time had already passed"


def build_run(
    *, automation: Automation, event: Event, trigger: str, anchor: datetime | None, now: datetime
) -> tuple[Run, list[RunStep]]:
    """The run and its steps as `start_run` makes them, not saved yet (the batch path saves many
    at once). A run whose steps were all skipped is completed from the start."""
    version = automation.current_version
    run = Run(
        automation=automation, version=version, trigger=trigger, event=event, object_type=event.object_type,
        object_id=event.object_id, anchor_at=anchor, status=RunStatus.ACTIVE, started_at=now,
        test_clock_id=event.test_clock_id,
    )  # fmt: skip
    planned = plan_steps(version=version, trigger=trigger, anchor=anchor, created=event.created, now=now)
    steps = step_rows(run, version, planned)
    if all_skipped(planned):
        run.status, run.reason, run.finished_at = RunStatus.COMPLETED, ALL_SKIPPED, now
    return run, steps


def step_rows(run: Run, version, planned: list) -> list[RunStep]:
    """The run's steps, not saved yet: the version's definitions timed as `plan_steps` planned."""
    return [
        RunStep(
            run=run,
            position=position,
            action=definition["action"],
            params=definition.get("params", {}),
            delay=definition["delay"],
            scheduled_at=moment,
            status=status,
            error=error,
        )  # fmt: skip
        for position, (definition, (moment, status, error)) in enumerate(zip(version.steps, planned, strict=True), 1)
    ]


def plan_steps(
    *, version: AutomationVersion, trigger: str, anchor: datetime | None, created: datetime, now: datetime
) -> list[tuple[datetime, str, str]]:
    """Each step's (scheduled time, status, error) for a run of `version` starting now: steps of a
    date-anchored trigger whose time has passed are skipped with the reason."""
    delays = [step["delay"] for step in version.steps]
    anchored = TRIGGERS[trigger].is_anchored
    times = anchored_times(anchor, delays) if anchored else relative_times(created, delays)
    return [
        (moment, StepStatus.SKIPPED, f"Its time ({moment:%Y-%m-%d %H:%M}) had passed when the run started.")
        if anchored and moment < now
        else (moment, StepStatus.PENDING, "")
        for moment in times
    ]


def all_skipped(planned: list[tuple[datetime, str, str]]) -> bool:
    return all(status == StepStatus.SKIPPED for _, status, _ in planned)


def finish_run(run: Run, status: str, reason: str = "") -> None:
    """Close a run; its pending steps are canceled."""
    now = clock.now()
    Run.objects.filter(pk=run.pk, status=RunStatus.ACTIVE).update(status=status, reason=reason, finished_at=now)
    RunStep.objects.filter(run=run, status=StepStatus.PENDING).update(status=StepStatus.CANCELED, error=reason)
    run.status, run.reason, run.finished_at = status, reason, now


def complete_runs(runs: list[Run], reason: str) -> None:
    """Complete runs that have no step left (so none to cancel), in one update; a run that ended
    meanwhile stays ended."""
    if not runs:
        return
    now = clock.now()
    Run.objects.filter(pk__in=[run.pk for run in runs], status=RunStatus.ACTIVE).update(
        status=RunStatus.COMPLETED, reason=reason, finished_at=now
    )
    for run in runs:
        run.status, run.reason, run.finished_at = RunStatus.COMPLETED, reason, now


def end_runs(*, object_id: str, trigger: str, reason_for: Callable[[Run], str | None]) -> int:
    """End the active runs of `trigger` on an object that `reason_for` says an end condition
    ends (a reason), as `event_effects.End.reason_for` judges them."""
    ended = 0
    for run in Run.objects.select_for_update().filter(object_id=object_id, trigger=trigger, status=RunStatus.ACTIVE):
        if reason := reason_for(run):
            finish_run(run, RunStatus.ENDED, reason)
            ended += 1
    return ended


def move_anchor(*, object_id: str, trigger: str, anchor: datetime) -> int:
    """Move the pending steps of active runs with the new anchor date; returns steps moved."""
    moved = 0
    now = clock.now()
    with transaction.atomic():
        for run in Run.objects.select_for_update().filter(
            object_id=object_id, trigger=trigger, status=RunStatus.ACTIVE
        ):
            if run.anchor_at == anchor:
                continue
            run.anchor_at = anchor
            run.save(update_fields=["anchor_at"])
            pending = list(run.steps.filter(status=StepStatus.PENDING))
            for step, moment in zip(pending, anchored_times(anchor, [s.delay for s in pending]), strict=True):
                step.scheduled_at = moment
                if moment < now:
                    step.status = StepStatus.SKIPPED
                    step.error = f"Its time ({moment:%Y-%m-%d %H:%M}) had passed when the date moved."
                step.save(update_fields=["scheduled_at", "status", "error"])
                moved += 1
            if not run.steps.filter(status__in=[StepStatus.PENDING, StepStatus.RUNNING]).exists():
                finish_run(run, RunStatus.COMPLETED, "no step left after the date moved")
    return moved
