"""Running everything due up to a moment, here and in order, as the worker would have: for the
demo's simulated history, and for the advances of test clocks.

With billing's clock at the moment: the periodic billing jobs (`billing.jobs.JOBS`, in order),
then the events not handled yet (in the order they were recorded), then the due steps (the
dispatcher's own `claim_due`/`execute_step`, so a step still waits while an earlier step of its
run is unfinished); events and steps again, while the steps record events that start runs with
steps due at once, until nothing is left to do.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Min

from automations.engine.dispatch import dispatch_due
from automations.engine.handling import handle_event, unhandled_event_ids
from automations.models import RunStatus, RunStep, StepStatus
from automations.outages import error_line
from automations.receivers import receivers_paused
from billing import clock
from billing.jobs import JOBS
from billing.models import AdvanceStatus, ClockAdvance, TestClock
from billing.services.test_clocks import clock_finish_advance, clock_move, simulated_moments_ahead

logger = logging.getLogger(__name__)

EVENTS_PER_PASS = 500
ALL_RECORDED = 365_000  # days: every event recorded up to the moment, however old


@dataclass
class DueWork:
    """What `run_due` did."""

    jobs: dict[str, int] = field(default_factory=dict)  # items each job processed (empty: jobs not run)
    events: int = 0  # events handled
    steps: int = 0  # steps executed

    @property
    def idle(self) -> bool:
        return not (any(self.jobs.values()) or self.events or self.steps)


def run_due(until: datetime, *, jobs: bool = True, test_clock: TestClock | None = None) -> DueWork:
    """Run the billing jobs once (unless `jobs` is False: the caller knows they would find
    nothing), then handle events and run due steps until idle, all with the clock at `until`.
    Real-time objects only, or (`test_clock`) only the objects of that clock's customers."""
    work = DueWork()
    clock_id = test_clock.public_id if test_clock is not None else None
    with clock.travel(until):
        if jobs:
            work.jobs = {name: job(test_clock=test_clock) for name, job in JOBS.items()}
        while True:
            handled = _handle_recorded(clock_id)
            executed = dispatch_due(test_clock=clock_id)
            work.events += handled
            work.steps += executed
            if not (handled or executed):
                return work


def _handle_recorded(test_clock: str | None = None) -> int:
    """Handle every event recorded up to now and not handled yet, oldest first."""
    handled = 0
    while ids := unhandled_event_ids(
        limit=EVENTS_PER_PASS, since_days=ALL_RECORDED, settle=timedelta(0), test_clock=test_clock
    ):
        handled += sum(1 for event_id in ids if handle_event(event_id))
    return handled


def next_step_due(after: datetime, *, test_clock: str | None = None) -> datetime | None:
    """The first moment after `after` at which a pending step of an active run (in real time, or
    on `test_clock`) falls due.

    A step waiting for an earlier step of its run counts too: waking for it too early only
    costs an idle `run_due`, since `claim_due` decides what runs.
    """
    found = RunStep.objects.filter(
        status=StepStatus.PENDING, run__status=RunStatus.ACTIVE, run__test_clock=test_clock, scheduled_at__gt=after
    ).aggregate(first=Min("scheduled_at"))
    return found["first"]


MAX_MOMENTS = 10_000  # an advance that needs more is a loop, not a simulation


def advance_test_clock(advance_id: int) -> None:
    """Walk a test clock's advance (requested by `billing.services.test_clocks.clock_start_advance`).

    1. From the clock's time, run everything due for its customers (billing jobs, events,
       steps: `run_due`), the engine's receivers paused so that every event is handled here,
       in order, at its simulated moment.
    2. Find the next moment at which something is due for them: a renewal, a due date, a
       retry, a cancellation or pause, a quote's expiry, a step. Move the clock there (never
       past the target) and go to 1; no moment is jumped over.
    3. At the target, with nothing left due: the clock is `ready`. If anything fails, the
       clock is `internal_failure` with the error, at the last moment it reached.
    A task delivered twice, or again after its worker died, goes on from the clock's time.
    """
    advance = ClockAdvance.objects.select_related("test_clock").filter(pk=advance_id).first()
    if advance is None or advance.status != AdvanceStatus.ADVANCING:
        return
    test_clock = advance.test_clock
    try:
        with receivers_paused():
            moment = test_clock.frozen_time
            for _ in range(MAX_MOMENTS):
                run_due(moment, test_clock=test_clock)
                following = _next_moment(test_clock, after=moment, until=advance.to_time)
                if following is None:
                    break
                clock_move(advance=advance, moment=following)
                moment = following
            else:
                raise RuntimeError(f"more than {MAX_MOMENTS} moments to walk through")
    except Exception as error:
        logger.exception("test clock %s could not advance", test_clock.public_id)
        clock_finish_advance(advance=advance, error=error_line(error))
        return
    clock_finish_advance(advance=advance)


def _next_moment(test_clock: TestClock, *, after: datetime, until: datetime) -> datetime | None:
    """The next moment to walk to: the first thing due after `after`, else the target itself."""
    due = [
        simulated_moments_ahead(test_clock, after=after, until=until),
        next_step_due(after, test_clock=test_clock.public_id),
    ]
    moments = [moment for moment in due if moment is not None and moment <= until]
    if moments:
        return min(moments)
    return until if after < until else None
