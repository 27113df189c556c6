"""Handling a billing event: start at most one run per trigger, end runs whose end condition
happened, move pending steps whose anchor date moved; keep the matching record.

1. Skip the event if it was handled already (HandledEvent).
2. For each trigger it starts: pick the first matching automation and start its run; record
   the checks (EventHandling). The unique constraints on (event, trigger) make a second,
   concurrent handling fail and roll back instead of starting a second run.
3. End runs and move anchors as the event says.
4. Mark the event handled, in the same transaction.
"""

import logging
from datetime import timedelta

from django.db import IntegrityError, transaction

from automations.engine import signals
from automations.engine.matching import first_match
from automations.engine.runs import end_runs, move_anchor, start_run
from automations.engine.triggers import PAYMENT_FAILED, TRIGGERS
from automations.models import EventHandling, HandledEvent
from billing import clock
from billing.models import Event

logger = logging.getLogger(__name__)


def handle_event(event_id: int) -> bool:
    """Handle one billing event once. False when it was handled already (here or concurrently)."""
    try:
        with transaction.atomic():
            event = Event.objects.get(pk=event_id)
            if HandledEvent.objects.filter(event=event).exists():
                return False
            _handle(event)
            HandledEvent.objects.create(event=event, handled_at=clock.now())
    except IntegrityError:
        logger.info("event %s was handled concurrently by another worker", event_id)
        return False
    return True


def _handle(event: Event) -> None:
    starts, moves = signals.starts(event), signals.moves(event)
    obj = signals.load_object(event) if starts or moves else None
    for start in starts:
        if obj is None:
            continue
        automation, checks = first_match(start.trigger, obj)
        anchor = _anchor(obj, start.trigger) or start.anchor
        run = (
            start_run(automation=automation, event=event, trigger=start.trigger, anchor=anchor) if automation else None
        )
        EventHandling.objects.create(
            event=event, trigger=start.trigger, handled_at=clock.now(), checks=checks, run=run,
            outcome=_outcome(start.trigger, automation, checks),
        )  # fmt: skip
    for end in signals.ends(event):
        end_runs(object_id=event.object_id, trigger=end.trigger, reason=end.reason)
    for move in moves:
        anchor = (_anchor(obj, move.trigger) if obj else None) or move.anchor
        move_anchor(object_id=event.object_id, trigger=move.trigger, anchor=anchor)


def _anchor(obj, trigger: str):
    """The object's own anchor date (exact; the event snapshot has whole seconds only)."""
    field = TRIGGERS[trigger].anchor_field
    return getattr(obj, field) if field else None


def _outcome(trigger: str, automation, checks: list[dict]) -> str:
    if automation is not None:
        return f"started a run of {automation.name}"
    none = "no automation matched" if checks else "no enabled automation for this trigger"
    if trigger == PAYMENT_FAILED:
        return f"{none}: the default retry settings apply"
    return none


def unhandled_event_ids(limit: int = 500, since_days: int = 3) -> list[int]:
    """Recent events the engine has not handled yet (the sweep's work)."""
    since = clock.now() - timedelta(days=since_days)
    handled = HandledEvent.objects.values("event_id")
    return list(
        Event.objects.filter(created__gte=since)
        .exclude(pk__in=handled)
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )


def handle_unhandled() -> int:
    """The sweep: handle every recent event not handled yet (e.g. its task was lost)."""
    return sum(1 for event_id in unhandled_event_ids() if handle_event(event_id))
