"""The 8 triggers of SPEC §2: what starts a run, what its steps are timed from, what ends it."""

from dataclasses import dataclass

RELATIVE = "relative"  # steps wait N minutes/hours/days after the previous step (or the trigger)
ANCHORED = "anchored"  # steps happen N days/hours before or after an anchor date


@dataclass(frozen=True)
class Trigger:
    key: str
    label: str
    description: str
    object_type: str  # "invoice", "quote" or "subscription"
    timing: str
    anchor_field: str = ""  # for anchored triggers: the object's date the steps are timed from
    # When a run ends early: `automations.engine.end_conditions`, the one definition.

    @property
    def is_anchored(self) -> bool:
        return self.timing == ANCHORED


TRIGGERS: dict[str, Trigger] = {
    t.key: t
    for t in [
        Trigger(
            "invoice.due_date_upcoming", "Invoice due date is upcoming",
            "Remind before (or after) an invoice's due date.", "invoice", ANCHORED, "due_date",
        ),
        Trigger(
            "invoice.finalized", "Invoice is finalized",
            "Act when an invoice is finalized and sent or charged.", "invoice", RELATIVE, "",
        ),
        Trigger(
            "invoice.overdue", "Invoice is overdue",
            "Chase an open invoice once it is past its due date.", "invoice", RELATIVE, "",
        ),
        Trigger(
            "quote.expiring", "Quote has an expiration date",
            "Remind before a quote expires.", "quote", ANCHORED, "expires_at",
        ),
        Trigger(
            "subscription.canceled", "Subscription is canceled",
            "Confirm a cancellation, ask why, alert the team.", "subscription", RELATIVE, "",
        ),
        Trigger(
            "subscription.payment_failed", "Subscription payment fails",
            "The first failed payment of a subscription invoice: retry, then decide.", "invoice", RELATIVE, "",
        ),
        Trigger(
            "subscription.cancel_scheduled", "Subscription is scheduled to cancel",
            "Try to win the customer back before the cancellation date.", "subscription", ANCHORED, "cancel_at",
        ),
        Trigger(
            "subscription.pause_scheduled", "Subscription payment collection is scheduled to pause",
            "Prepare the customer for a pause in collection.", "subscription", ANCHORED, "pause_starts_at",
        ),
    ]
}  # fmt: skip

INVOICE_TRIGGERS = {"invoice.due_date_upcoming", "invoice.finalized", "invoice.overdue"}
SUBSCRIPTION_TRIGGERS = {"subscription.canceled", "subscription.cancel_scheduled", "subscription.pause_scheduled"}
PAYMENT_FAILED = "subscription.payment_failed"
ALL_TRIGGERS = set(TRIGGERS)


def trigger_choices() -> list[tuple[str, str]]:
    return [(t.key, t.label) for t in TRIGGERS.values()]
