"""When a run ends early (SPEC §2, the triggers' last column): one definition per trigger,
read from an object's state at a moment.

The same definition answers three questions:
- does this event end the runs on its object? (the state its snapshot recorded, at its time);
- may a run start now? (the object's current state: a run never starts when its end condition
  already holds, whatever order the events were handled in; nor when a later event, handled
  already, recorded it: `event_effects.ended_since`);
- may a step act now? (the same, at the step's time, before every action).
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from automations.triggers import PAYMENT_FAILED


@dataclass(frozen=True)
class Ending:
    reason: str  # why a run ended: "invoice paid"
    already: str  # why a run did not start, or a step did not act: "invoice already paid"


@dataclass(frozen=True)
class State:
    """The fields of an invoice, quote or subscription that end conditions read."""

    status: str
    auto_advance: bool = True
    cancel_at: datetime | None = None
    pause_starts_at: datetime | None = None

    @classmethod
    def of(cls, obj) -> "State":
        """The state of a billing object as it is now."""
        return cls(
            status=obj.status,
            auto_advance=getattr(obj, "auto_advance", True),
            cancel_at=getattr(obj, "cancel_at", None),
            pause_starts_at=getattr(obj, "pause_starts_at", None),
        )

    @classmethod
    def recorded(cls, data: dict) -> "State":
        """The state an event's snapshot (Stripe's JSON shape) recorded."""
        pause = data.get("pause_collection") or {}
        return cls(
            status=data.get("status", ""),
            auto_advance=data.get("auto_advance", True) is not False,
            cancel_at=_time(data.get("cancel_at")),
            pause_starts_at=_time(pause.get("starts_at")),
        )


def _time(timestamp: int | None) -> datetime | None:
    return datetime.fromtimestamp(timestamp, tz=UTC) if timestamp else None


PAID = Ending("invoice paid", "invoice already paid")
VOIDED = Ending("invoice voided", "invoice already voided")
UNCOLLECTIBLE = Ending("invoice marked uncollectible", "invoice already marked uncollectible")
AUTO_ADVANCE_OFF = Ending("auto_advance turned off", "auto_advance already turned off")
ACCEPTED = Ending("quote accepted", "quote already accepted")
QUOTE_CANCELED = Ending("quote canceled", "quote already canceled")
NO_LONGER_CANCELS = Ending(
    "the subscription no longer ends in cancellation", "the subscription no longer ends in cancellation"
)
PAUSE_WITHDRAWN = Ending("the pause was withdrawn", "the pause was already withdrawn")
CANCELED_BEFORE_PAUSE = Ending(
    "the subscription was canceled before the pause started", "the subscription was canceled before the pause started"
)


def _invoice(endings: dict[str, Ending], *, auto_advance: bool = False):
    def rule(state: State, at: datetime, anchor: datetime | None) -> Ending | None:
        if ending := endings.get(state.status):
            return ending
        if auto_advance and not state.auto_advance and state.status == "open":
            return AUTO_ADVANCE_OFF
        return None

    return rule


def _quote(state: State, at: datetime, anchor: datetime | None) -> Ending | None:
    return {"accepted": ACCEPTED, "canceled": QUOTE_CANCELED}.get(state.status)


def _cancel_scheduled(state: State, at: datetime, anchor: datetime | None) -> Ending | None:
    if state.status != "canceled" and state.cancel_at is None:
        return NO_LONGER_CANCELS
    return None


def _pause_scheduled(state: State, at: datetime, anchor: datetime | None) -> Ending | None:
    """Only before the pause starts: a pause that ends on schedule (collection resumes at its
    `resumes_at`) leaves the same fields as a withdrawn one, and is not a withdrawal. An unknown
    anchor counts as not started yet."""
    if anchor is not None and at >= anchor:
        return None
    if state.status == "canceled":
        return CANCELED_BEFORE_PAUSE
    if state.status != "paused" and state.pause_starts_at is None:
        return PAUSE_WITHDRAWN
    return None


def _never(state: State, at: datetime, anchor: datetime | None) -> None:
    return None


RULES = {
    "invoice.due_date_upcoming": _invoice({"paid": PAID, "void": VOIDED}, auto_advance=True),
    "invoice.finalized": _invoice({"paid": PAID, "void": VOIDED, "uncollectible": UNCOLLECTIBLE}),
    "invoice.overdue": _invoice({"paid": PAID, "void": VOIDED}),
    PAYMENT_FAILED: _invoice({"paid": PAID, "void": VOIDED}),
    "quote.expiring": _quote,
    "subscription.canceled": _never,
    "subscription.cancel_scheduled": _cancel_scheduled,
    "subscription.pause_scheduled": _pause_scheduled,
}


def ending(trigger: str, state: State, *, at: datetime, anchor: datetime | None = None) -> Ending | None:
    """How a run of `trigger` on an object in `state` at moment `at` ends early (None: it goes
    on). `anchor` is the run's anchor date, for triggers whose end depends on it (a pause is
    withdrawn only before it starts)."""
    return RULES[trigger](state, at, anchor)


def ending_now(trigger: str, obj, *, at: datetime, anchor: datetime | None = None) -> Ending | None:
    """`ending` for a billing object as it is now."""
    return ending(trigger, State.of(obj), at=at, anchor=anchor)
