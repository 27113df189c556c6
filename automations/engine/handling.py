"""Handling a billing event: start at most one run per trigger, end runs whose end condition
happened, move pending steps whose anchor date moved; keep the matching record.

1. Skip the event if it was handled already (HandledEvent).
2. For each trigger it starts: pick the first matching automation and start its run, unless
   the object's current state already meets the trigger's end condition (events handled out of
   order: the invoice was paid before its `invoice.finalized` was handled), or a later event on
   it, handled already, ended such a run (a cancellation unscheduled, then scheduled again:
   `event_effects.ended_since`); record the checks and the outcome (MatchingRecord). The unique constraints on (event, trigger) make a second,
   concurrent handling fail and roll back instead of starting a second run.
3. End runs and move anchors as the event says (only runs that earlier events started: an
   event handled late does not end a run on a state older than the run).
4. Mark the event handled, in the same transaction.

`handle_batch` does the same for many events at once (the overdue sweep's batches, the events a
batch of steps causes): events that only start runs are matched in Python against the
automations, objects and currency read once (objects whose filters read the same values share
one record of the checks, `matching.Matcher`), and written in one transaction with one
statement on PostgreSQL (`batch_writes`); events that only end runs end them with one read; events that move anchors (or do
more than one thing, or whose starts read other events) go through `handle_event`, in order.
"""

import logging
from contextlib import nullcontext
from datetime import timedelta

from django.db import IntegrityError, OperationalError, transaction
from django.db.models import Exists, Max, OuterRef, Q

from automations.engine import batch_writes, event_effects
from automations.engine.accounts import default_currency
from automations.engine.batch_writes import NewRecord, NewRun
from automations.engine.end_conditions import Ending, ending_now
from automations.engine.filters import rates_memo
from automations.engine.matching import Matcher, first_match, in_priority_order
from automations.engine.objects import OBJECT_MODELS
from automations.engine.runs import end_runs, finish_run, move_anchor, plan_steps, start_run
from automations.models import HandledEvent, MatchingRecord, Run, RunStatus
from automations.outages import connection_lost
from automations.triggers import PAYMENT_FAILED, TRIGGERS
from billing import clock
from billing.models import Event

logger = logging.getLogger(__name__)


def handle_event(event_id: int) -> bool:
    """Handle one billing event once. False when it was handled already (here or concurrently).
    An event on a test clock is handled at the clock's time."""
    try:
        with transaction.atomic():
            event = Event.objects.select_related("test_clock").get(pk=event_id)
            if HandledEvent.objects.filter(event=event).exists():
                return False
            with _in_time_of(event):
                _handle(event)
                HandledEvent.objects.create(event=event, handled_at=clock.now())
    except IntegrityError:
        logger.info("event %s was handled concurrently by another worker", event_id)
        return False
    return True


def _in_time_of(event: Event):
    """Billing's clock at the event's test clock's time (unless a clock's advance already set it)."""
    if event.test_clock_id and clock.traveling() is None:
        return clock.travel(event.test_clock.frozen_time)
    return nullcontext()


def _handle(event: Event) -> None:
    starts, moves = event_effects.starts(event), event_effects.moves(event)
    obj = event_effects.load_object(event) if starts or moves else None
    later = event_effects.handled_later([event]).get(event.object_id, []) if starts and obj else []
    for start in starts:
        if obj is None:
            continue
        automation, checks = first_match(start.trigger, obj)
        anchor = anchor_of(obj, start.trigger) or start.anchor
        stopped = _stopped(event, start.trigger, obj, anchor, later, now=clock.now())
        run = None
        if automation is not None and stopped is None:
            run = start_run(automation=automation, event=event, trigger=start.trigger, anchor=anchor)
        MatchingRecord.objects.create(
            event=event, trigger=start.trigger, handled_at=clock.now(), checks=checks, run=run,
            outcome=_outcome(start.trigger, automation, checks, stopped),
        )  # fmt: skip
    for end in event_effects.ends(event):
        end_runs(object_id=event.object_id, trigger=end.trigger, reason_for=end.reason_for)
    for move in moves:
        anchor = (anchor_of(obj, move.trigger) if obj else None) or move.anchor
        move_anchor(object_id=event.object_id, trigger=move.trigger, anchor=anchor)


def handle_batch(event_ids: list[int]) -> int:
    """Handle many events once each, as `handle_event` would one by one, in event order; returns
    how many were handled here (not before, nor concurrently)."""
    ids = list(dict.fromkeys(event_ids))
    events = list(Event.objects.filter(pk__in=ids).order_by("pk"))
    if missing := set(ids) - {event.pk for event in events}:
        logger.warning("events %s do not exist", sorted(missing))
    done = set(HandledEvent.objects.filter(event_id__in=ids).values_list("event_id", flat=True))
    handled, segment, kind = 0, [], None
    for event in events:
        if event.pk in done:
            continue
        event_kind = _kind(event) if not event.test_clock_id else None  # clock events: at their clock's time
        if segment and event_kind != kind:  # the events before it first: the order is kept
            handled += BATCHES[kind](segment)
            segment = []
        if event_kind is None:
            handled += _handle_one(event.pk)
            continue
        segment.append(event)
        kind = event_kind
    return handled + (BATCHES[kind](segment) if segment else 0)


def _kind(event: Event) -> str | None:
    """How the batch path takes the event, from its own snapshot: "starts" (it only starts runs,
    or does nothing), "ends" (it only ends runs), or None (one by one: it moves anchors, does
    both, or its starts read other events)."""
    if event.type == "invoice.payment_failed" or event_effects.moves(event):
        return None
    if not event_effects.ends(event):
        return "starts"
    return None if event_effects.starts(event) else "ends"


def _handle_one(event_id: int) -> int:
    try:
        return int(handle_event(event_id))
    except Exception as error:
        if connection_lost(error):  # so would every other: the caller logs it once
            raise
        logger.exception("event %s could not be handled", event_id)  # the sweep handles it later
        return 0


def _start_batch(events: list[Event]) -> int:
    """Start the runs of events that only start runs: one transaction, one insert per table. If
    another worker handled one of them meanwhile (a unique constraint fails), or the transaction
    meets a deadlock, the batch is rolled back and its events are handled one by one."""
    if not events:
        return 0
    try:
        with transaction.atomic():
            _start_all(events)
    except (IntegrityError, OperationalError) as error:
        if connection_lost(error):  # one by one would fail the same way: the caller logs it once
            raise
        logger.info("batch of %s events conflicted (%s): handling them one by one", len(events), error)
        return sum(_handle_one(event.pk) for event in events)
    return len(events)


def _end_batch(events: list[Event]) -> int:
    """End the runs that events which only end runs (paid, voided…) end: one transaction, one
    read of the active runs concerned, one insert of the handled marks. An active run ended by
    several of the events gets the first one's reason, as one by one. If another worker handled
    one of them meanwhile, or the transaction meets a deadlock, they are handled one by one."""
    try:
        with transaction.atomic():
            ends: dict[tuple[str, str], list[event_effects.End]] = {}
            for event in events:
                for end in event_effects.ends(event):
                    ends.setdefault((event.object_id, end.trigger), []).append(end)
            concerned = Q()
            for object_id, trigger in ends:
                concerned |= Q(object_id=object_id, trigger=trigger)
            for run in Run.objects.select_for_update().filter(concerned, status=RunStatus.ACTIVE).order_by("pk"):
                reasons = (end.reason_for(run) for end in ends[(run.object_id, run.trigger)])
                if reason := next((reason for reason in reasons if reason), None):
                    finish_run(run, RunStatus.ENDED, reason)
            now = clock.now()
            HandledEvent.objects.bulk_create([HandledEvent(event=event, handled_at=now) for event in events])
    except (IntegrityError, OperationalError) as error:
        if connection_lost(error):  # one by one would fail the same way: the caller logs it once
            raise
        logger.info("batch of %s events conflicted (%s): handling them one by one", len(events), error)
        return sum(_handle_one(event.pk) for event in events)
    return len(events)


OBJECT_PREFETCH = {"invoice": "lines__product", "quote": "lines__product", "subscription": "items__price__product"}


def _start_all(events: list[Event]) -> None:
    now = clock.now()
    planned = [(event, event_effects.starts(event)) for event in events]
    triggers = sorted({start.trigger for _, starts in planned for start in starts})
    automations = {trigger: in_priority_order(trigger) for trigger in triggers}
    currency = default_currency() if any(automations.values()) else None
    matchers = {trigger: Matcher(autos, currency=currency) for trigger, autos in automations.items()}
    product_filter = any(
        f["type"] == "product" for autos in automations.values() for a in autos for f in a.current_version.filters
    )
    starting = [event for event, starts in planned if starts]
    objects = _load_objects(starting, prefetch_products=product_filter)
    later = event_effects.handled_later(starting)
    runs, records = [], []
    with rates_memo():
        for event, starts in planned:
            obj = objects.get((event.object_type, event.object_id))
            for start in starts:
                if obj is None:
                    continue
                automation, checks = matchers[start.trigger].match(obj)
                run = None
                anchor = anchor_of(obj, start.trigger) or start.anchor
                stopped = _stopped(event, start.trigger, obj, anchor, later.get(event.object_id, []), now=now)
                if automation is not None and stopped is None:
                    steps = plan_steps(
                        version=automation.current_version, trigger=start.trigger, anchor=anchor,
                        created=event.created, now=now,
                    )  # fmt: skip
                    run = NewRun(automation, event, start.trigger, anchor, steps)
                    runs.append(run)
                outcome = _outcome(start.trigger, automation, checks, stopped)
                records.append(NewRecord(event, start.trigger, checks, outcome, run))
    batch_writes.write(runs, records, events, now=now)


BATCHES = {"starts": _start_batch, "ends": _end_batch}


def _load_objects(events: list[Event], *, prefetch_products: bool) -> dict[tuple[str, str], object]:
    """The events' objects by (object_type, public_id), one query per type (and its prefetch)."""
    wanted: dict[str, set[str]] = {}
    for event in events:
        if event.object_type in OBJECT_MODELS:
            wanted.setdefault(event.object_type, set()).add(event.object_id)
    found = {}
    for object_type, public_ids in wanted.items():
        rows = OBJECT_MODELS[object_type].objects.select_related("customer").filter(public_id__in=public_ids)
        if prefetch_products:
            rows = rows.prefetch_related(OBJECT_PREFETCH[object_type])
        found |= {(object_type, obj.public_id): obj for obj in rows}
    return found


def _stopped(event: Event, trigger: str, obj, anchor, later: list[Event], *, now) -> Ending | None:
    """Why a run of `trigger` that `event` starts must not start: its end condition holds for the
    object now, or a later event on it, handled already, ended it (it would have ended the run,
    handled in order: an end state that did not last still ends the runs started before it)."""
    return ending_now(trigger, obj, at=now, anchor=anchor) or event_effects.ended_since(event, trigger, anchor, later)


def anchor_of(obj, trigger: str):
    """The object's own anchor date (exact; the event snapshot has whole seconds only)."""
    field = TRIGGERS[trigger].anchor_field
    return getattr(obj, field) if field else None


def _outcome(trigger: str, automation, checks: list[dict], stopped: Ending | None) -> str:
    if stopped is not None:  # the object reached an end state before the event was handled
        return f"not started: {stopped.already}"
    if automation is not None:
        return f"started a run of {automation.name}"
    none = "no automation matched" if checks else "no enabled automation for this trigger"
    if trigger == PAYMENT_FAILED:
        return f"{none}: the default retry settings apply"
    return none


SETTLE = timedelta(minutes=1)


def unhandled_event_ids(
    limit: int = 500,
    since_days: int = 3,
    settle: timedelta = SETTLE,
    *,
    test_clock: str | None = None,
    after: int = 0,
) -> list[int]:
    """Recent events the engine has not handled yet (the sweep's work), in id order, from id
    `after` on. Those of the last `settle` are left to their own task: in a burst, the sweep
    would race it for each. Events in real time, or (`test_clock`: a clock's id) of that clock
    only: a clock's advance handles its own. Each event is looked up in the handled marks'
    index (NOT EXISTS): a NOT IN would read every mark ever made."""
    now = clock.now()
    handled = HandledEvent.objects.filter(event_id=OuterRef("pk"))
    return list(
        Event.objects.filter(created__gte=now - timedelta(days=since_days), created__lte=now - settle, pk__gt=after)
        .filter(test_clock=test_clock)
        .filter(~Exists(handled))
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )


def handle_unhandled() -> int:
    """The sweep: handle every recent event not handled yet (e.g. its task was lost)."""
    return sum(1 for event_id in unhandled_event_ids() if handle_event(event_id))


class EventSweep:
    """The dispatcher's sweep for events no task handled, which remembers how far every event is
    handled (`handled_to`, an event id) so that each pass reads only the events since, not three
    days of them (at 100 events/s, a pass over three days' events took 0.8 s after 30 minutes, and
    grew with them, while the dispatcher claimed nothing).

    1. A pass handles the unhandled events after `handled_to`, as `handle_unhandled` does.
    2. Then `handled_to` moves up to the newest event older than SETTLE + LAG (or the last one
       looked at, when the pass was full): an event committed later than it was numbered (a
       transaction open for minutes) is still looked at for LAG.
    3. Once every FULL_PASS_EVERY, a pass starts from the beginning again (3 days), in case.
    """

    LAG = timedelta(minutes=5)
    FULL_PASS_EVERY = timedelta(hours=1)
    LIMIT = 500

    def __init__(self):
        self.handled_to = 0
        self.full_pass_at = None

    def run(self) -> int:
        now = clock.now()
        if self.full_pass_at is None or now - self.full_pass_at >= self.FULL_PASS_EVERY:
            self.handled_to, self.full_pass_at = 0, now
        ids = unhandled_event_ids(self.LIMIT, after=self.handled_to)
        handled, first_failed = 0, None
        for event_id in ids:
            try:
                handled += bool(handle_event(event_id))
            except Exception as error:
                if connection_lost(error):  # the dispatcher's loop logs the outage once
                    raise
                # One event the engine cannot handle (a definition it cannot read) must not stop
                # the dispatcher: it is logged, the others are handled, and the mark stays below
                # it so that the next pass tries it again.
                logger.exception("event %s could not be handled; the sweep tries it again", event_id)
                first_failed = event_id if first_failed is None else first_failed
        older = Event.objects.filter(pk__gt=self.handled_to, created__lte=now - SETTLE - self.LAG)
        newest_old = older.aggregate(newest=Max("pk"))["newest"] or self.handled_to
        self.handled_to = min(newest_old, ids[-1]) if len(ids) == self.LIMIT else newest_old
        if first_failed is not None:
            self.handled_to = min(self.handled_to, first_failed - 1)
        return handled
