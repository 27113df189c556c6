"""Running everything due up to a moment, here and in order, as the worker would have: for the
demo's simulated history now, and for test clocks next.

With billing's clock at the moment: the periodic billing jobs (`billing.jobs.JOBS`, in order),
then the events not handled yet (in the order they were recorded), then the due steps (the
dispatcher's own `claim_due`/`execute_step`, so a step still waits while an earlier step of its
run is unfinished); events and steps again, while the steps record events that start runs with
steps due at once, until nothing is left to do.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Min

from automations.engine.dispatch import dispatch_due
from automations.engine.handling import handle_event, unhandled_event_ids
from automations.models import RunStatus, RunStep, StepStatus
from billing import clock
from billing.jobs import JOBS

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


def run_due(until: datetime, *, jobs: bool = True) -> DueWork:
    """Run the billing jobs once (unless `jobs` is False: the caller knows they would find
    nothing), then handle events and run due steps until idle, all with the clock at `until`."""
    work = DueWork()
    with clock.travel(until):
        if jobs:
            work.jobs = {name: job() for name, job in JOBS.items()}
        while True:
            handled = _handle_recorded()
            executed = dispatch_due()
            work.events += handled
            work.steps += executed
            if not (handled or executed):
                return work


def _handle_recorded() -> int:
    """Handle every event recorded up to now and not handled yet, oldest first."""
    handled = 0
    while ids := unhandled_event_ids(limit=EVENTS_PER_PASS, since_days=ALL_RECORDED, settle=timedelta(0)):
        handled += sum(1 for event_id in ids if handle_event(event_id))
    return handled


def next_step_due(after: datetime) -> datetime | None:
    """The first moment after `after` at which a pending step of an active run falls due.

    A step waiting for an earlier step of its run counts too: waking for it too early only
    costs an idle `run_due`, since `claim_due` decides what runs.
    """
    found = RunStep.objects.filter(
        status=StepStatus.PENDING, run__status=RunStatus.ACTIVE, scheduled_at__gt=after
    ).aggregate(first=Min("scheduled_at"))
    return found["first"]
