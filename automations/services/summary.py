"""The plain-language summary of a definition (SPEC §4), e.g. "When a subscription payment fails,
for yearly subscriptions: start retry policy Annual, wait 7 days, cancel the subscription"."""

from automations.engine.actions import ACTIONS
from automations.engine.filters import FILTERS
from automations.engine.triggers import TRIGGERS

ANCHOR_NAMES = {
    "due_date": "the due date",
    "expires_at": "the expiry date",
    "cancel_at": "the cancellation date",
    "pause_starts_at": "the pause start",
}
SINGULAR = {"minutes": "minute", "hours": "hour", "days": "day"}


def _describe(registry: dict, key, params) -> str:
    """The registry's description; a draft the builder has not finished yet falls back to the label."""
    item = registry.get(key) if isinstance(key, str) else None
    if item is None:
        return ""
    try:
        return item.describe(params if isinstance(params, dict) else {})
    except (KeyError, TypeError, ValueError, AttributeError):
        return item.label[0].lower() + item.label[1:]


def _duration(delay: dict) -> str:
    amount, unit = delay.get("amount"), delay.get("unit", "")
    return f"{amount} {SINGULAR.get(unit, unit) if amount == 1 else unit}"


def _when(delay, anchor: str) -> str:
    if not isinstance(delay, dict) or not delay.get("amount"):
        return f"on {anchor}"
    return f"{_duration(delay)} {delay.get('direction', 'after')} {anchor}"


def summarize(*, trigger: str, filters: list, steps: list) -> str:
    """One sentence: the trigger, the conditions, then the steps with their delays.

    Trigger-relative steps read "wait 3 days, void invoice" (no "wait 0 …"); date-anchored ones
    read "3 days before the due date: send …", separated by semicolons.
    """
    trig = TRIGGERS.get(trigger)
    label = trig.label if trig else str(trigger)
    article = "an" if label[:1].lower() in "aeiou" else "a"
    text = f"When {article} {label[:1].lower()}{label[1:]}"
    conditions = [_describe(FILTERS, f.get("type"), f.get("params")) for f in filters if isinstance(f, dict)]
    if conditions := [c for c in conditions if c]:
        text += ", for " + " and ".join(conditions)
    parts = []
    for step in steps:
        if not isinstance(step, dict):
            continue
        action = _describe(ACTIONS, step.get("action"), step.get("params")) or "…"
        delay = step.get("delay")
        if trig and trig.is_anchored:
            parts.append(f"{_when(delay, ANCHOR_NAMES.get(trig.anchor_field, 'the date'))}: {action}")
        else:
            if isinstance(delay, dict) and delay.get("amount"):
                parts.append(f"wait {_duration(delay)}")
            parts.append(action)
    if not parts:
        return text
    return f"{text}: " + ("; " if trig and trig.is_anchored else ", ").join(parts)


def automation_summary(automation) -> str:
    """The summary of an automation's current version."""
    version = automation.current_version
    if version is None:
        return summarize(trigger=automation.trigger, filters=[], steps=[])
    return summarize(trigger=automation.trigger, filters=version.filters, steps=version.steps)
