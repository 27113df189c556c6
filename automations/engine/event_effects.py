"""How billing events concern the engine: which triggers they start, which runs they end, which
anchors they move. Pure reading of the event and its object; no writes."""

from dataclasses import dataclass
from datetime import UTC, datetime

from django.db.models import Exists, OuterRef

from automations.engine.end_conditions import Ending, State, ending
from automations.engine.objects import OBJECT_MODELS
from automations.triggers import TRIGGERS
from billing.models import Event

OBJECT_TRIGGERS = {
    kind: [key for key, trigger in TRIGGERS.items() if trigger.object_type == kind] for kind in OBJECT_MODELS
}  # the triggers whose runs are about an object of each kind


@dataclass(frozen=True)
class Start:
    trigger: str
    anchor: datetime | None = None


@dataclass(frozen=True)
class End:
    """The state an event recorded meets the end condition of `trigger` (`reason`). A run of that
    trigger ends on it if the run started before the event, and, where the condition depends on
    the run's anchor date (a pause withdrawn before it starts), if it holds for the run's anchor."""

    trigger: str
    reason: str
    state: State
    at: datetime
    event_id: int

    def ending_for(self, run) -> Ending | None:
        """The end condition by which this event ends `run` (saved, or about to start), or None."""
        if run.event_id is not None and run.event_id >= self.event_id:
            return None  # started by a later event (handled first): this state is older than the run
        return ending(self.trigger, self.state, at=self.at, anchor=run.anchor_at)

    def reason_for(self, run) -> str | None:
        """Why this event ends `run`, or None when it does not."""
        found = self.ending_for(run)
        return found.reason if found else None


@dataclass(frozen=True)
class Move:
    trigger: str
    anchor: datetime


def load_object(event: Event):
    model = OBJECT_MODELS.get(event.object_type)
    if model is None:
        return None
    return model.objects.select_related("customer").filter(public_id=event.object_id).first()


def _changed(event: Event, field: str) -> bool:
    return bool(event.previous_attributes) and field in event.previous_attributes


def _time(timestamp: int | None) -> datetime | None:
    return datetime.fromtimestamp(timestamp, tz=UTC) if timestamp else None


def _pause_start(pause: dict | None) -> datetime | None:
    return _time(pause.get("starts_at")) if pause else None


def starts(event: Event) -> list[Start]:
    """The triggers this event starts a run for, with their anchor dates (from the event's snapshot)."""
    data = event.data_object
    previous = event.previous_attributes or {}
    match event.type:
        case "invoice.finalized":
            found = [Start("invoice.finalized")]
            if due := _time(data.get("due_date")):
                found.append(Start("invoice.due_date_upcoming", due))
            return found
        case "invoice.updated":
            # An open invoice that gets a due date: the due-date run starts then (SPEC: "when the
            # object gets the date").
            got_date = _changed(event, "due_date") and not previous["due_date"] and data.get("due_date")
            if got_date and data.get("status") == "open":
                return [Start("invoice.due_date_upcoming", _time(data["due_date"]))]
            return []
        case "invoice.overdue":
            return [Start("invoice.overdue")]
        case "invoice.payment_failed":
            earlier = Event.objects.filter(object_id=event.object_id, type="invoice.payment_failed", pk__lt=event.pk)
            return [Start("subscription.payment_failed")] if data.get("subscription") and not earlier.exists() else []
        case "quote.finalized":
            expires = _time(data.get("expires_at"))
            return [Start("quote.expiring", expires)] if expires else []
        case "customer.subscription.deleted":
            return [Start("subscription.canceled")]
        case "customer.subscription.updated":
            found = []
            if _changed(event, "cancel_at") and not previous["cancel_at"] and data.get("cancel_at"):
                found.append(Start("subscription.cancel_scheduled", _time(data["cancel_at"])))
            pause_start = _pause_start(data.get("pause_collection"))
            newly_paused = _changed(event, "pause_collection") and not previous["pause_collection"]
            if newly_paused and pause_start and pause_start > event.created and data.get("status") != "paused":
                found.append(Start("subscription.pause_scheduled", pause_start))
            return found
    return []


def ends(event: Event) -> list[End]:
    """The runs (by trigger) on this event's object that it may end: the triggers whose end
    condition (`end_conditions`) the state it recorded meets, where the event changed that (an
    update that leaves a subscription without a scheduled cancellation, as it was, ends nothing).
    An anchor-dependent condition is judged per run (`End.reason_for`)."""
    if event.type.endswith(".created"):
        return []  # nothing ran on an object before it existed
    state = State.recorded(event.data_object)
    before = None
    if event.previous_attributes:
        before = State.recorded({**event.data_object, **event.previous_attributes})
    found = []
    for trigger in OBJECT_TRIGGERS.get(event.object_type, []):
        now = ending(trigger, state, at=event.created)
        if now is None or (before is not None and ending(trigger, before, at=event.created) == now):
            continue
        found.append(End(trigger, now.reason, state, event.created, event.pk))
    return found


def handled_later(events: list[Event]) -> dict[str, list[Event]]:
    """By object id, the events on the objects of `events` that come after the first of them and
    were handled already (in one query): an event handled late must not start a run that one of
    them, handled in order, would have ended (`ended_since`)."""
    from automations.models import HandledEvent

    if not events:
        return {}
    handled = HandledEvent.objects.filter(event_id=OuterRef("pk"))
    found: dict[str, list[Event]] = {}
    for later in (
        Event.objects.filter(object_id__in={event.object_id for event in events}, pk__gt=min(e.pk for e in events))
        .exclude(type__endswith=".created")
        .filter(Exists(handled))
        .order_by("pk")
    ):
        found.setdefault(later.object_id, []).append(later)
    return found


def ended_since(event: Event, trigger: str, anchor: datetime | None, later: list[Event]) -> Ending | None:
    """The end condition by which one of `later` (events on the same object, handled already)
    ends a run of `trigger` that `event` would start now, anchored at `anchor`: the first that
    does, as if the events had been handled in order. An end state that did not last (a
    cancellation unscheduled, then scheduled again) still ended the runs started before it."""
    probe = _Probe(event_id=event.pk, anchor_at=anchor)
    for other in later:
        if other.pk <= event.pk:
            continue
        for end in ends(other):
            if end.trigger == trigger and (found := end.ending_for(probe)) is not None:
                return found
    return None


@dataclass(frozen=True)
class _Probe:
    """What `End.ending_for` reads of a run, for one not started yet."""

    event_id: int
    anchor_at: datetime | None


def moves(event: Event) -> list[Move]:
    """Anchor dates this event moves (pending steps move with them)."""
    data = event.data_object
    previous = event.previous_attributes or {}
    found = []
    if event.type == "invoice.updated" and previous.get("due_date") and data.get("due_date"):
        found.append(Move("invoice.due_date_upcoming", _time(data["due_date"])))
    if event.type == "quote.updated" and _changed(event, "expires_at") and data.get("expires_at"):
        found.append(Move("quote.expiring", _time(data["expires_at"])))
    if event.type == "customer.subscription.updated":
        if previous.get("cancel_at") and data.get("cancel_at"):
            found.append(Move("subscription.cancel_scheduled", _time(data["cancel_at"])))
        before, after = _pause_start(previous.get("pause_collection")), _pause_start(data.get("pause_collection"))
        if before and after and before != after and data.get("status") != "paused":
            found.append(Move("subscription.pause_scheduled", after))
    return found
