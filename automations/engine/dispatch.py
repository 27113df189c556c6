"""Running due steps. The step table is the source of truth.

1. Claim: due pending steps (and running ones whose lease expired: their worker died) are
   locked with `SELECT … FOR UPDATE SKIP LOCKED` and marked running with a lease, in one
   transaction; a step waits while an earlier step of its run is unfinished.
2. Execute the action outside that transaction. Actions are idempotent per step (billing
   transitions re-check state under a row lock; emails and webhooks carry the step's key).
3. Record the outcome; for trigger-relative runs the next step is timed from this one's end;
   a run with no step left is completed, a permanent failure fails the run.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q

from automations.engine.actions import ACTIONS
from automations.engine.actions.base import ActionError, ActionSkipped, ActionWait
from automations.engine.runs import finish_run
from automations.engine.scheduling import delay_of
from automations.engine.triggers import TRIGGERS
from automations.models import Run, RunStatus, RunStep, StepStatus
from billing import clock

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
MIN_WAIT = timedelta(minutes=1)
UNFINISHED = [StepStatus.PENDING, StepStatus.RUNNING]


def lease() -> timedelta:
    return timedelta(seconds=settings.AUTOMATION_STEP_LEASE_SECONDS)


def retry_delay(attempt: int) -> timedelta:
    """Backoff for transient failures: 1, 2, 4, 8 minutes."""
    return timedelta(minutes=2 ** (attempt - 1))


def claim_due(limit: int = 50) -> list[int]:
    """Claim up to `limit` due steps for this worker; returns their ids."""
    now = clock.now()
    # A step left running by a dead worker on a run that has since ended will never run again.
    RunStep.objects.filter(status=StepStatus.RUNNING, claimed_until__lt=now).exclude(
        run__status=RunStatus.ACTIVE
    ).update(
        status=StepStatus.CANCELED, claimed_until=None, error="The run was no longer active when its worker stopped."
    )
    earlier_unfinished = RunStep.objects.filter(
        run_id=OuterRef("run_id"), position__lt=OuterRef("position"), status__in=UNFINISHED
    )
    with transaction.atomic():
        due = (
            RunStep.objects.filter(
                Q(status=StepStatus.PENDING, scheduled_at__lte=now)
                | Q(status=StepStatus.RUNNING, claimed_until__lt=now),
                run__status=RunStatus.ACTIVE,
            )
            .filter(~Exists(earlier_unfinished))  # a step waits while an earlier step of its run is unfinished
            .order_by("scheduled_at", "pk")
            .select_for_update(skip_locked=True, of=("self",))[:limit]
        )
        ids = [step.pk for step in due]
        RunStep.objects.filter(pk__in=ids).update(
            status=StepStatus.RUNNING, claimed_until=now + lease(), attempts=F("attempts") + 1
        )
    return ids


def execute_step(step_id: int) -> str | None:
    """Run one claimed step's action and record what happened, in one transaction that holds
    the step's row: its effect and its record commit together (a worker that dies in between
    leaves neither), and no other worker runs it meanwhile, even once the lease has run out
    (claims skip locked rows). Returns the step's new status (None: not ours to run)."""
    step = None
    try:
        with transaction.atomic():
            step = (
                RunStep.objects.select_related("run__automation")
                .select_for_update(skip_locked=True, of=("self",))
                .filter(pk=step_id, status=StepStatus.RUNNING)
                .first()
            )
            if step is None:  # done, given back, or being run by another worker right now
                return None
            try:
                result = ACTIONS[step.action].execute(step)
            except (
                ActionSkipped
            ) as exc:  # what the action did before saying so stays (e.g. a policy attached, then wait)
                return _finish(step, StepStatus.SKIPPED, error=exc.reason)
            except ActionWait as exc:
                return _wait(step, exc)
            except ActionError as exc:
                return _failure(step, exc.message, permanent=exc.permanent)
            return _finish(step, StepStatus.SUCCEEDED, result=result or {})
    except Exception as exc:  # unexpected: all of it was rolled back; transient, then it fails the step
        if step is None:
            raise
        logger.exception("step %s failed", step)
        return _failure(step, f"{type(exc).__name__}: {exc}", permanent=False)


def _mine(step: RunStep):
    """The step's row while this worker still holds it (same attempt, still running)."""
    return RunStep.objects.filter(pk=step.pk, status=StepStatus.RUNNING, attempts=step.attempts)


def _finish(step: RunStep, status: str, *, result: dict | None = None, error: str = "") -> str:
    """Record the outcome; then one read of the run's unfinished steps both times the next one
    (trigger-relative runs) and tells whether the run is complete."""
    now = clock.now()
    with transaction.atomic(savepoint=False):  # part of the step's transaction (execute_step)
        updated = _mine(step).update(status=status, result=result, error=error, executed_at=now, claimed_until=None)
        if not updated:
            return status
        run = step.run
        unfinished = list(
            RunStep.objects.filter(run_id=step.run_id, status__in=UNFINISHED)
            .order_by("position")
            .values("pk", "position", "status", "delay")
        )
        following = next((s for s in unfinished if s["position"] == step.position + 1), None)
        if following and following["status"] == StepStatus.PENDING and not TRIGGERS[run.trigger].is_anchored:
            # The next step waits its delay after this one's end (unless the run ended meanwhile).
            RunStep.objects.filter(pk=following["pk"], status=StepStatus.PENDING).update(
                scheduled_at=now + delay_of(following["delay"])
            )
        if not unfinished:
            # Conditional on the run being active still (finish_run): one that ended meanwhile stays ended.
            finish_run(run, RunStatus.COMPLETED, "all steps done")
    return status


def _wait(step: RunStep, wait: ActionWait) -> str:
    # Never sooner than a minute: the billing job that moves things on may not have run yet.
    until = max(wait.until, clock.now() + MIN_WAIT)
    # Waking up to look again is not an attempt: give back the one the claim counted.
    _mine(step).update(
        status=StepStatus.PENDING, scheduled_at=until, claimed_until=None, result={"waiting": wait.reason},
        attempts=F("attempts") - 1,
    )  # fmt: skip
    return StepStatus.PENDING


def _failure(step: RunStep, message: str, *, permanent: bool) -> str:
    if not permanent and step.attempts < MAX_ATTEMPTS:
        _mine(step).update(
            status=StepStatus.PENDING, scheduled_at=clock.now() + retry_delay(step.attempts), claimed_until=None,
            error=f"Attempt {step.attempts} failed: {message}",
        )  # fmt: skip
        return StepStatus.PENDING
    with transaction.atomic():
        if _mine(step).update(status=StepStatus.FAILED, error=message, executed_at=clock.now(), claimed_until=None):
            run = Run.objects.select_for_update().get(pk=step.run_id)
            finish_run(run, RunStatus.FAILED, f"step {step.position} ({ACTIONS[step.action].label}) failed: {message}")
    return StepStatus.FAILED


def execute_steps(step_ids: list[int]) -> int:
    """Steps claimed together (one django-q2 task): each in its own transaction, and one failing
    unexpectedly does not hold up the others (its claim runs out and it is claimed again). The
    emails they record are sent here afterwards rather than by a task each, the events they cause
    reach the engine in one task, and lookups the steps share (the team's members) are made once
    for the batch."""
    from automations.engine.actions.common import batch_lookups
    from automations.receivers import events_in_one_task
    from notifications.email import send, sending_later

    done = 0
    with events_in_one_task(), sending_later() as emails, batch_lookups():
        for step_id in step_ids:
            try:
                execute_step(step_id)
                done += 1
            except Exception:
                logger.exception("step %s could not be executed", step_id)
    for email_id in emails:
        try:
            send(email_id)
        except Exception:  # still queued: the email sweep sends it
            logger.exception("email %s could not be sent", email_id)
    return done


STEPS_PER_TASK = 25


def dispatch_to_workers(limit: int = 200, per_task: int = STEPS_PER_TASK) -> int:
    """Claim due steps and hand them to django-q2 workers, `per_task` steps a task (the
    dispatcher process's loop); returns how many were claimed.

    1. Claim only what the workers will start soon: while the broker already holds 4 tasks per
       worker, claim nothing. A claim's lease runs from the claim, and a step claimed early is
       a step started late.
    2. Hand out the claimed steps in tasks of `per_task`: a django-q2 task costs more than most
       steps (bench/scenarios/due_steps.py).
    A step whose worker dies (or whose task the broker loses) keeps its claim until the lease
    runs out; then it is claimed and handed out again.
    """
    from django_q.brokers import get_broker
    from django_q.tasks import async_task

    room = 4 * settings.Q_CLUSTER.get("workers", 2) - get_broker().queue_size()
    if room <= 0:
        return 0
    ids = claim_due(min(limit, room * per_task))
    for start in range(0, len(ids), per_task):
        async_task("automations.tasks.execute_steps", ids[start : start + per_task])
    return len(ids)


def dispatch_due(limit: int = 50) -> int:
    """Claim and execute due steps here until none is left; returns how many were executed."""
    done = 0
    while ids := claim_due(limit):
        for step_id in ids:
            execute_step(step_id)
            done += 1
    return done
