"""How billing events concern the engine: which triggers they start, which runs they end, which
anchors they move. Pure reading of the event and its object; no writes."""

from dataclasses import dataclass
from datetime import UTC, datetime

from automations.engine.triggers import TRIGGERS
from billing.models import Event, Invoice, Quote, Subscription

MODELS = {"invoice": Invoice, "quote": Quote, "subscription": Subscription}


@dataclass(frozen=True)
class Start:
    trigger: str
    anchor: datetime | None = None


@dataclass(frozen=True)
class End:
    trigger: str
    reason: str


@dataclass(frozen=True)
class Move:
    trigger: str
    anchor: datetime


def load_object(event: Event):
    model = MODELS.get(event.object_type)
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
    """The runs (by trigger) on this event's object that it ends early."""
    data = event.data_object
    found = [End(key, reason) for key, trigger in TRIGGERS.items() if (reason := trigger.ends_on.get(event.type))]
    if event.type == "invoice.updated" and _changed(event, "auto_advance") and not data.get("auto_advance"):
        found.append(End("invoice.due_date_upcoming", "auto_advance turned off"))
    if event.type == "customer.subscription.updated":
        if _changed(event, "cancel_at") and not data.get("cancel_at"):
            found.append(End("subscription.cancel_scheduled", "the subscription no longer ends in cancellation"))
        if _changed(event, "pause_collection") and not data.get("pause_collection") and data.get("status") != "paused":
            found.append(End("subscription.pause_scheduled", "the pause was withdrawn"))
    return found


def moves(event: Event) -> list[Move]:
    """Anchor dates this event moves (pending steps move with them)."""
    data = event.data_object
    previous = event.previous_attributes or {}
    found = []
    if event.type == "invoice.updated" and _changed(event, "due_date") and data.get("due_date"):
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
