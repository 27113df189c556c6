"""Running due steps. The step table is the source of truth.

1. Claim: due pending steps (and running ones whose lease expired: their worker died) are
   locked with `SELECT … FOR UPDATE SKIP LOCKED` and marked running with a lease, in one
   transaction; a step waits while an earlier step of its run is unfinished.
2. Execute the action outside that transaction, unless the run's end condition holds by then
   (the step is skipped with the reason, and the run ends). Actions are idempotent per step
   (billing transitions re-check state under a row lock; emails and webhooks carry the step's key).
3. Record the outcome; for trigger-relative runs the next step is timed from this one's end;
   a run with no step left is completed, a permanent failure fails the run.
Steps claimed together are executed as a batch: one transaction, a savepoint per step.
"""

import json
import logging
import math
from collections import Counter
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q

from automations import queue
from automations.engine.actions import ACTIONS
from automations.engine.actions.base import ActionError, ActionSkipped, ActionWait
from automations.engine.end_conditions import Ending, ending_now
from automations.engine.runs import complete_runs, finish_run
from automations.engine.scheduling import delay_of
from automations.models import Run, RunStatus, RunStep, StepStatus
from automations.outages import connection_lost
from automations.triggers import TRIGGERS
from billing import clock
from notifications.backoff import doubling_wait

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
MIN_WAIT = timedelta(minutes=1)
UNFINISHED = [StepStatus.PENDING, StepStatus.RUNNING]


def lease() -> timedelta:
    return timedelta(seconds=settings.AUTOMATION_STEP_LEASE_SECONDS)


def retry_delay(attempt: int) -> timedelta:
    """Backoff for transient failures: 1, 2, 4, 8 minutes."""
    return doubling_wait(timedelta(minutes=1), attempt)


def claim_due(limit: int = 50, *, test_clock: str | None = None) -> list[int]:
    """Claim up to `limit` due steps for this worker; returns their ids. The steps of runs in
    real time, or (`test_clock`: a clock's id, during its advance) of that clock's runs only."""
    now = clock.now()
    in_time = Q(run__test_clock__isnull=True) if test_clock is None else Q(run__test_clock=test_clock)
    # A step left running by a dead worker on a run that has since ended will never run again.
    RunStep.objects.filter(status=StepStatus.RUNNING, claimed_until__lt=now).exclude(
        run__status=RunStatus.ACTIVE
    ).update(
        status=StepStatus.CANCELED, claimed_until=None, error="The run was no longer active when its worker stopped."
    )
    earlier_unfinished = RunStep.objects.filter(
        run_id=OuterRef("run_id"), position__lt=OuterRef("position"), status__in=UNFINISHED
    )

    def claimable(condition: Q, order: str):
        # Two queries, each walking its own partial index (step_lease, step_due) in order and
        # stopping at `limit`: an OR of both could only scan and sort every unfinished step.
        return (
            RunStep.objects.filter(condition, in_time, run__status=RunStatus.ACTIVE)
            .filter(~Exists(earlier_unfinished))  # a step waits while an earlier step of its run is unfinished
            .order_by(order, "pk")
            .select_for_update(skip_locked=True, of=("self",))
            .values_list("pk", flat=True)
        )

    with transaction.atomic():
        # Steps whose worker died first: they are the most overdue.
        ids = list(claimable(Q(status=StepStatus.RUNNING, claimed_until__lt=now), "claimed_until")[:limit])
        if len(ids) < limit:
            ids += claimable(Q(status=StepStatus.PENDING, scheduled_at__lte=now), "scheduled_at")[: limit - len(ids)]
        RunStep.objects.filter(pk__in=ids).update(
            status=StepStatus.RUNNING, claimed_until=now + lease(), attempts=F("attempts") + 1
        )
    return ids


def execute_batch(step_ids: list[int]) -> dict[int, str]:
    """Run claimed steps' actions and record what happened, in one transaction that holds the
    steps' rows: each effect and its record commit together (a worker that dies in between
    leaves neither), and no other worker runs them meanwhile, even once a lease has run out
    (claims skip locked rows). Returns the new status of each step run here (absent: not ours
    to run).

    1. Same-kind steps act as a set (`Action.acts_as_set`: void, mark uncollectible, team
       email): one read of their objects (locked when the action changes them), the end
       conditions checked on what it read, then one write per table for the set
       (`Action.execute_set`), in one savepoint. If the set fails unexpectedly, its savepoint
       is rolled back and its steps run one by one.
    2. The other steps (and those of a set whose object another step of the batch also acts
       on, or is gone) run one by one, in order, each in its own savepoint, so one failing
       unexpectedly undoes its own effect only.
    3. The outcomes are written in one update, and the runs the steps complete closed in one
       (bench/scenarios/due_steps).
    """
    from automations.engine.actions.base import preload_run_objects

    statuses: dict[int, str] = {}
    with transaction.atomic():
        steps = list(
            RunStep.objects.select_related("run__automation")
            .select_for_update(skip_locked=True, of=("self",))
            .filter(pk__in=step_ids, status=StepStatus.RUNNING)
            .order_by("pk")
        )
        if not steps:  # done, given back, or being run by other workers right now
            return statuses
        sets, one_by_one = _sets(steps)
        finished: list[tuple[RunStep, str, dict | None, str, datetime]] = []
        for action_key, group in sets.items():
            one_by_one += _execute_set(action_key, group, finished, statuses)
        one_by_one.sort(key=lambda step: step.pk)
        preload_run_objects([step.run for step in one_by_one])
        for step in one_by_one:
            statuses[step.pk] = _execute(step, finished)
        _record(finished)
    return statuses


def _sets(steps: list[RunStep]) -> tuple[dict[str, list[RunStep]], list[RunStep]]:
    """The batch's steps that act as sets, by action, and those that run one by one: a step
    whose object another step of the batch also acts on runs one by one (in order), and so
    does a set of one."""
    objects = Counter((step.run.object_type, step.run.object_id) for step in steps)
    sets: dict[str, list[RunStep]] = {}
    one_by_one = []
    for step in steps:
        if ACTIONS[step.action].acts_as_set and objects[(step.run.object_type, step.run.object_id)] == 1:
            sets.setdefault(step.action, []).append(step)
        else:
            one_by_one.append(step)
    for action_key in [key for key, group in sets.items() if len(group) == 1]:
        one_by_one += sets.pop(action_key)
    return sets, one_by_one


def _execute_set(action_key: str, steps: list[RunStep], finished: list, statuses: dict) -> list[RunStep]:
    """Run same-kind steps as a set (see `execute_batch`); returns the steps left to run one by
    one (their object is gone, or the set failed as a whole)."""
    action = ACTIONS[action_key]
    outcomes: dict[int, dict | Exception | Ending] = {}
    try:
        with transaction.atomic():
            objects = action.read_set(steps)
            acting = []
            for step in steps:
                if step.pk not in objects:
                    continue  # the action says what it makes of a missing object, one by one
                if (ended := _ending(step, objects[step.pk])) is not None:
                    finish_run(step.run, RunStatus.ENDED, ended.reason)
                    outcomes[step.pk] = ended
                else:
                    acting.append(step)
            outcomes |= action.execute_set(acting, objects) if acting else {}
    except Exception as error:
        if connection_lost(error):  # one by one would fail the same way: execute_steps logs it once
            raise
        logger.exception("set of %s %s steps failed: executing them one by one", len(steps), action_key)
        return steps
    now = clock.now()
    for step in steps:
        outcome = outcomes.get(step.pk)
        if outcome is None:
            continue
        if isinstance(outcome, Ending):
            finished.append((step, StepStatus.SKIPPED, None, f"the run's end condition holds: {outcome.already}", now))
            statuses[step.pk] = StepStatus.SKIPPED
        elif isinstance(outcome, ActionSkipped):
            finished.append((step, StepStatus.SKIPPED, None, outcome.reason, now))
            statuses[step.pk] = StepStatus.SKIPPED
        elif isinstance(outcome, ActionWait):
            statuses[step.pk] = _wait(step, outcome)
        elif isinstance(outcome, ActionError):
            statuses[step.pk] = _failure(step, outcome.message, permanent=outcome.permanent)
        else:
            finished.append((step, StepStatus.SUCCEEDED, outcome or {}, "", now))
            statuses[step.pk] = StepStatus.SUCCEEDED
    return [step for step in steps if step.pk not in outcomes]


def execute_step(step_id: int) -> str | None:
    """Run one claimed step (a batch of one); returns its new status (None: not ours to run)."""
    return execute_batch([step_id]).get(step_id)


def _execute(step: RunStep, finished: list) -> str:
    """Run the step's action in a savepoint. A step that is done (succeeded, skipped) joins
    `finished`, recorded for the batch; a wait or a failure is recorded here."""
    try:
        with transaction.atomic():
            if (ended := _run_has_ended(step)) is not None:
                # The event that ends the run may not be handled yet (or was handled before the
                # run started): the step does not act, and the run ends here.
                finish_run(step.run, RunStatus.ENDED, ended.reason)
                finished.append((step, StepStatus.SKIPPED, None, f"the run's end condition holds: {ended.already}",
                                 clock.now()))  # fmt: skip
                return StepStatus.SKIPPED
            try:
                result = ACTIONS[step.action].execute(step)
            except ActionSkipped as exc:  # what the action did before saying so stays (e.g. a policy attached)
                finished.append((step, StepStatus.SKIPPED, None, exc.reason, clock.now()))
                return StepStatus.SKIPPED
            except ActionWait as exc:
                return _wait(step, exc)
            except ActionError as exc:
                return _failure(step, exc.message, permanent=exc.permanent)
    except Exception as exc:  # unexpected: its savepoint was rolled back; transient, then it fails the step
        if connection_lost(exc):  # not the step's fault, and no record can be written: execute_steps logs it once
            raise
        logger.exception("step %s failed", step)
        return _failure(step, f"{type(exc).__name__}: {exc}", permanent=False)
    finished.append((step, StepStatus.SUCCEEDED, result or {}, "", clock.now()))
    return StepStatus.SUCCEEDED


def _run_has_ended(step: RunStep) -> Ending | None:
    """The run's end condition, if it holds for its object now (read once: the action gets the
    object read here)."""
    from automations.engine.actions.base import give_back_run_object, run_object

    if _own_effect(step):
        return None
    try:
        obj = run_object(step)
    except ObjectDoesNotExist:
        return None  # the action says what it makes of a missing object
    give_back_run_object(step, obj)
    return _ending(step, obj)


def _own_effect(step: RunStep) -> bool:
    """A retried step of an action whose own effect ends its run: the end state may be its
    earlier attempt's doing, which the action tells apart itself (`Action.can_end_its_run`)."""
    return step.attempts > 1 and ACTIONS[step.action].can_end_its_run


def _ending(step: RunStep, obj) -> Ending | None:
    """The run's end condition, if it holds for `obj` (its object, just read) now."""
    if _own_effect(step):
        return None
    return ending_now(step.run.trigger, obj, at=clock.now(), anchor=step.run.anchor_at)


def _mine(step: RunStep):
    """The step's row while this worker still holds it (same attempt, still running)."""
    return RunStep.objects.filter(pk=step.pk, status=StepStatus.RUNNING, attempts=step.attempts)


def _record(finished: list[tuple[RunStep, str, dict | None, str, datetime]]) -> None:
    """Write the outcomes of the batch's done steps (one update; each step's time is when its
    action ended), then one read of their runs' unfinished steps both times each next step
    (trigger-relative runs) and tells which runs are complete. Part of the batch's transaction,
    which holds the steps' rows."""
    if not finished:
        return
    for step, status, result, error, ended in finished:
        step.status, step.result, step.error, step.executed_at, step.claimed_until = status, result, error, ended, None
    _write_outcomes([step for step, *_ in finished])
    unfinished: dict[int, list[dict]] = {}
    for row in (
        RunStep.objects.filter(run_id__in={step.run_id for step, *_ in finished}, status__in=UNFINISHED)
        .order_by("position")
        .values("pk", "run_id", "position", "status", "delay")
    ):
        unfinished.setdefault(row["run_id"], []).append(row)
    complete = []
    for step, *_, ended in finished:
        run, left = step.run, unfinished.get(step.run_id, [])
        following = next((s for s in left if s["position"] == step.position + 1), None)
        if following and following["status"] == StepStatus.PENDING and not TRIGGERS[run.trigger].is_anchored:
            # The next step waits its delay after this one's end (unless the run ended meanwhile).
            RunStep.objects.filter(pk=following["pk"], status=StepStatus.PENDING).update(
                scheduled_at=ended + delay_of(following["delay"])
            )
        if not left:
            complete.append(run)
    # Conditional on each run being active still: one that ended meanwhile stays ended.
    complete_runs(complete, "all steps done")


OUTCOME_FIELDS = ["status", "result", "error", "executed_at", "claimed_until"]


def _write_outcomes(steps: list[RunStep]) -> None:
    """One UPDATE for the batch's outcomes. On PostgreSQL, `UPDATE … FROM (VALUES …)`: Django's
    bulk_update builds a CASE per field and step, which cost more than the steps' own updates."""
    if connection.vendor != "postgresql":
        RunStep.objects.bulk_update(steps, OUTCOME_FIELDS)
        return
    rows, params = [], []
    for step in steps:
        rows.append("(%s::bigint, %s::varchar, %s::jsonb, %s::text, %s::timestamptz)")
        result = None if step.result is None else json.dumps(step.result)
        params += [step.pk, step.status, result, step.error, step.executed_at]
    table = connection.ops.quote_name(RunStep._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS step SET status = v.status, result = v.result, error = v.error, "
            f"executed_at = v.executed_at, claimed_until = NULL "
            f"FROM (VALUES {', '.join(rows)}) AS v (id, status, result, error, executed_at) WHERE step.id = v.id",
            params,
        )


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
    """Steps claimed together (one django-q2 task), executed as one batch (`execute_batch`); if
    the batch fails as a whole (a deadlock with another worker, say: all of it rolled back), each
    step is executed on its own, and one failing does not hold up the others (its claim runs out
    and it is claimed again). When the database is out of reach (a restart) none is, and one line
    is logged, not a traceback per step. The emails the steps record are sent here afterwards
    rather than by a task each, the events they cause reach the engine in one task, and lookups
    the steps share (the team's members, the webhook endpoints) are made once for the batch.
    Returns how many steps were executed here."""
    from automations.engine.actions.common import batch_lookups
    from automations.outages import error_line
    from automations.receivers import events_in_one_task
    from notifications.email import send_many, sending_later
    from notifications.services.events import endpoints_read_once

    done = 0
    with events_in_one_task(), sending_later() as emails, batch_lookups(), endpoints_read_once():
        try:
            done = len(execute_batch(step_ids))
        except Exception as error:
            if connection_lost(error):  # each would fail the same way; their claims run out, they are claimed again
                logger.warning("batch of %s steps not executed: %s", len(step_ids), error_line(error))
                return 0
            logger.exception("batch of %s steps failed: executing them one by one", len(step_ids))
            for step_id in step_ids:
                try:
                    done += execute_step(step_id) is not None
                except Exception as step_error:
                    if connection_lost(step_error):
                        logger.warning("steps not executed: %s", error_line(step_error))
                        break
                    logger.exception("step %s could not be executed", step_id)
    if emails:
        try:
            send_many(emails)
        except Exception as error:  # still queued: the email sweep sends them
            if not connection_lost(error):
                logger.exception("%s emails could not be sent", len(emails))
            else:
                logger.warning("%s emails not sent now (the sweep sends them): %s", len(emails), error_line(error))
    return done


STEPS_PER_TASK = 50  # a set of 50 steps costs about twice a set of 25 minus a task (bench: due_steps)


def dispatch_to_workers(limit: int = 200, per_task: int = STEPS_PER_TASK) -> int:
    """Claim due steps and hand them to django-q2 workers, `per_task` steps a task (the
    dispatcher process's loop); returns how many were claimed.

    1. Claim only what the workers will start soon: while the broker already holds 4 tasks per
       worker, claim nothing. A claim's lease runs from the claim, and a step claimed early is
       a step started late.
    2. Hand out the claimed steps in tasks of at most `per_task` (a django-q2 task costs more
       than most steps: bench/scenarios/due_steps.py), and no more than an even share per
       worker, so that a few steps due together run side by side (bench/scenarios/lateness.py).
    A step whose worker dies (or whose task the broker loses) keeps its claim until the lease
    runs out; then it is claimed and handed out again.
    """
    from django_q.brokers import get_broker

    workers = settings.Q_CLUSTER.get("workers", 2)
    room = 4 * workers - get_broker().queue_size()
    if room <= 0:
        return 0
    ids = claim_due(min(limit, room * per_task))
    # A few steps are shared among the workers (they run side by side), a backlog goes per_task a task.
    size = max(1, min(per_task, math.ceil(len(ids) / workers)))
    for start in range(0, len(ids), size):
        queue.enqueue_steps(ids[start : start + size])
    return len(ids)


def dispatch_due(limit: int = 50, *, test_clock: str | None = None) -> int:
    """Claim and execute due steps here until none is left; returns how many were executed."""
    done = 0
    while ids := claim_due(limit, test_clock=test_clock):
        for step_id in ids:
            execute_step(step_id)
            done += 1
    return done
