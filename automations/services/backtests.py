"""Backtests (issue 14): replay the last N days of recorded events for a saved automation or the
builder's draft (`automations.engine.backtest`). A small history is replayed at once, in the
request; a large one on a worker (`automations.tasks.run_backtest`), its progress kept on the row.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction

from automations import queue
from automations.engine.backtest import Candidate, Version, backtest, place_in, replayed_events
from automations.engine.matching import in_priority_order
from automations.models import Automation, Backtest, BacktestStatus
from automations.services.definitions import validate_definition
from automations.triggers import TRIGGERS
from billing import clock
from billing.errors import DomainError

logger = logging.getLogger(__name__)

MAX_DAYS = 365
DEFAULT_DAYS = 30
INLINE_EVENTS = 5000  # up to this many events of the window, the backtest runs in the request
# At most this many: a worker replays ~15,000 events/s (bench: backtest), and its task must end
# well within django-q2's timeout (60 s), or it would be handed out again and again.
MAX_EVENTS = 300_000
DAYS_MESSAGE = f"Choose a number of days from 1 to {MAX_DAYS}."


class BacktestError(DomainError):
    """A backtest that cannot be started (a bad number of days, an automation without steps)."""


def clean_days(raw) -> int:
    """The number of days of history to replay, from a form's text (1..MAX_DAYS)."""
    try:
        days = int(str(raw).strip())
    except (TypeError, ValueError):
        raise BacktestError(DAYS_MESSAGE) from None
    if not 1 <= days <= MAX_DAYS:
        raise BacktestError(DAYS_MESSAGE)
    return days


def backtest_automation(*, automation: Automation, days: int, user=None) -> Backtest:
    """Backtest a saved automation's current version at its current place."""
    version = automation.current_version
    if version is None or not version.steps:
        raise BacktestError("This automation has no steps to backtest.")
    definition = {"name": automation.name, "version": version.number, "filters": version.filters,
                  "steps": version.steps, "draft": False, "place_before": None}  # fmt: skip
    return _start(automation=automation, trigger=automation.trigger, definition=definition, days=days, user=user)


def backtest_draft(
    *,
    name: str,
    trigger: str,
    filters: list,
    steps: list,
    days: int,
    place_before: str | None = None,
    automation: Automation | None = None,
    user=None,
) -> Backtest:
    """Backtest the builder's draft (validated first: DefinitionError with the problems). It takes
    `place_before`'s place if given, else the place of the `automation` it edits, else the last."""
    clean = validate_definition(trigger=trigger, filters=filters, steps=steps)
    if automation is not None and automation.trigger != clean.trigger:
        raise BacktestError("The trigger of a saved automation does not change.")
    definition = {"name": name, "version": 0, "filters": clean.filters, "steps": clean.steps,
                  "draft": True, "place_before": place_before}  # fmt: skip
    return _start(automation=automation, trigger=clean.trigger, definition=definition, days=days, user=user)


def _start(*, automation, trigger: str, definition: dict, days: int, user) -> Backtest:
    if not 1 <= days <= MAX_DAYS:
        raise BacktestError(DAYS_MESSAGE)
    now = clock.now()
    events = replayed_events(trigger, now - timedelta(days=days), now).count()
    most = getattr(settings, "BACKTEST_MAX_EVENTS", MAX_EVENTS)
    if events > most:
        raise BacktestError(
            f"The last {days} days hold {events:,} {TRIGGERS[trigger].object_type} events, more than a backtest "
            f"replays ({most:,}): choose fewer days."
        )
    backtest_row = Backtest.objects.create(
        automation=automation, trigger=trigger, definition=definition, days=days,
        requested_by=user if user is not None and user.is_authenticated else None,
    )  # fmt: skip
    if events <= getattr(settings, "BACKTEST_INLINE_EVENTS", INLINE_EVENTS):  # the tests lower it
        run_backtest(backtest_row.pk)
        backtest_row.refresh_from_db()
    else:
        transaction.on_commit(lambda: queue.enqueue_backtest(backtest_row.pk))
    return backtest_row


def _window(backtest_row: Backtest):
    """The replayed window: the `days` days before the backtest was asked for."""
    until = backtest_row.created
    return until - timedelta(days=backtest_row.days), until


def _candidate(backtest_row: Backtest) -> tuple[Candidate, list]:
    """The automation under test and the automations checked before it."""
    definition = backtest_row.definition
    automation = backtest_row.automation
    candidate = Candidate(
        name=definition.get("name") or "This draft",
        trigger=backtest_row.trigger,
        current_version=Version(definition.get("version", 0), definition["filters"], definition["steps"]),
        public_id=automation.public_id if automation is not None else "",
    )
    priority = None
    if automation is not None and automation.archived_at is None:
        priority = (automation.priority, automation.pk)
    place_before = definition.get("place_before")
    higher = place_in(candidate, in_priority_order(backtest_row.trigger), place_before=place_before, priority=priority)
    return candidate, higher


def run_backtest(backtest_id: int) -> None:
    """Replay a backtest's window (the worker's task, or at once for a small one). A backtest
    already done or failed is left as it is (a task delivered twice); one found running was
    interrupted (its worker died): it starts again from the beginning."""
    claimed = Backtest.objects.filter(
        pk=backtest_id, status__in=[BacktestStatus.QUEUED, BacktestStatus.RUNNING]
    ).update(status=BacktestStatus.RUNNING, progress=0)
    if not claimed:
        return
    backtest_row = Backtest.objects.select_related("automation").get(pk=backtest_id)
    since, until = _window(backtest_row)
    reported = [0]

    def progress(done: int, total: int) -> None:
        percent = min(99, done * 100 // total) if total else 99
        if percent > reported[0]:
            reported[0] = percent
            Backtest.objects.filter(pk=backtest_id).update(progress=percent)

    try:
        candidate, higher = _candidate(backtest_row)
        started = clock.now()
        result = backtest(candidate, higher, since=since, until=until, progress=progress)
        result["seconds"] = round((clock.now() - started).total_seconds(), 2)
    except Exception as error:
        logger.exception("backtest %s failed", backtest_row.public_id)
        Backtest.objects.filter(pk=backtest_id).update(
            status=BacktestStatus.FAILED, error=f"{type(error).__name__}: {error}"[:2000], finished=clock.now()
        )
        return
    Backtest.objects.filter(pk=backtest_id).update(
        status=BacktestStatus.DONE, progress=100, result=result, error="", finished=clock.now()
    )


def backtest_again(*, backtest_row: Backtest, days: int, user=None) -> Backtest:
    """The same automation or draft over another number of days (from now)."""
    return _start(
        automation=backtest_row.automation,
        trigger=backtest_row.trigger,
        definition=backtest_row.definition,
        days=days,
        user=user,
    )
