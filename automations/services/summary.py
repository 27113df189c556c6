"""The plain-language summary of a definition (SPEC §4), e.g. "When a subscription payment fails,
for yearly subscriptions: start retry policy Annual, wait 7 days, cancel the subscription"."""

from dataclasses import dataclass

from automations.engine.actions import ACTIONS
from automations.engine.filters import FILTERS
from automations.triggers import TRIGGERS
from billing.models import RetryPolicy
from billing.models.retries import EndBehavior

ANCHOR_NAMES = {
    "due_date": "the due date",
    "expires_at": "the expiry date",
    "cancel_at": "the cancellation date",
    "pause_starts_at": "the pause start",
}
SINGULAR = {"minutes": "minute", "hours": "hour", "days": "day"}


def plural(count: int, singular: str, plural: str | None = None) -> str:
    """The word for `count` things: "run" for 1, "runs" (or the given plural) otherwise."""
    return singular if count == 1 else (plural or singular + "s")


def _describe(registry: dict, key, params) -> str:
    """The registry's description; a draft the builder has not finished yet falls back to the label."""
    item = registry.get(key) if isinstance(key, str) else None
    if item is None:
        return ""
    try:
        return item.describe(params if isinstance(params, dict) else {})
    except (KeyError, TypeError, ValueError, AttributeError):
        return item.label[0].lower() + item.label[1:]


def duration_words(delay: dict) -> str:
    """A delay's length: "1 day", "3 hours"."""
    amount, unit = delay.get("amount"), delay.get("unit", "")
    return f"{amount} {SINGULAR.get(unit, unit) if amount == 1 else unit}"


def anchored_delay_words(delay, anchor: str) -> str:
    """A date-anchored step's time: "on the due date", "2 days before the due date"."""
    if not isinstance(delay, dict) or not delay.get("amount"):
        return f"on {anchor}"
    return f"{duration_words(delay)} {delay.get('direction', 'after')} {anchor}"


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
            parts.append(f"{anchored_delay_words(delay, ANCHOR_NAMES.get(trig.anchor_field, 'the date'))}: {action}")
        else:
            if isinstance(delay, dict) and delay.get("amount"):
                parts.append(f"wait {duration_words(delay)}")
            parts.append(action)
    if not parts:
        return text
    return f"{text}: " + ("; " if trig and trig.is_anchored else ", ").join(parts)


@dataclass(frozen=True)
class Parameter:
    """One setting of a step as the automation page shows it; `url` when the value is a link."""

    name: str
    value: str
    url: str = ""


def retry_policies_named(steps: list) -> dict[str, RetryPolicy]:
    """The existing retry policies the steps name, in one query (none when no step names one)."""
    names = {
        s["params"]["policy"]
        for s in steps
        if isinstance(s, dict) and isinstance(s.get("params"), dict) and isinstance(s["params"].get("policy"), str)
    }
    return {p.name: p for p in RetryPolicy.objects.filter(name__in=names)} if names else {}


def _policy_parameters(params: dict, policies: dict[str, RetryPolicy]) -> list[Parameter]:
    new = params.get("new_policy")
    if isinstance(new, dict):
        fields = {k: v for k, v in new.items() if k != "name"}
        policy, name = RetryPolicy(**fields), f"{new.get('name')} (created when the step first runs)"
    else:
        name = str(params.get("policy", ""))
        policy = policies.get(name)
        if policy is None:
            return [Parameter("Retry policy", f"{name} (no longer exists)")]
    return [
        Parameter("Retry policy", name),
        Parameter("Schedule", policy.describe_schedule()),
        Parameter("After the last failed retry", EndBehavior(policy.end_behavior).label),
    ]


def step_parameters(action: str, params, policies: dict[str, RetryPolicy]) -> list[Parameter]:
    """Every setting of a step, named as the builder names it: the retry policy with its schedule
    and end behaviour, the team email's recipient and message, the survey link, the webhook label.
    `policies` are the existing policies by name (retry_policies_named)."""
    params = params if isinstance(params, dict) else {}
    try:
        if action == "set_retry_policy":
            return _policy_parameters(params, policies)
        if action == "send_team_email":
            return [Parameter("Recipient", str(params["recipient"])), Parameter("Message", str(params["message"]))]
        if action == "send_cancellation_email":
            url = str(params.get("survey_url") or "")
            return [Parameter("Survey link", url or "none", url if url.startswith("https://") else "")]
        if action == "send_custom_event_webhook":
            return [Parameter("Event label", str(params["label"]))]
        if action == "email_customer":
            default = "the default (in the customer's language)"
            return [
                Parameter("Subject", str(params.get("subject") or default)),
                Parameter("Body", str(params.get("body") or default)),
            ]
    except (KeyError, TypeError, ValueError):  # a definition saved before a parameter existed
        return [Parameter("Settings", ", ".join(f"{k}: {v}" for k, v in params.items()) or "none")]
    return []


def automation_summary(automation) -> str:
    """The summary of an automation's current version."""
    version = automation.current_version
    if version is None:
        return summarize(trigger=automation.trigger, filters=[], steps=[])
    return summarize(trigger=automation.trigger, filters=version.filters, steps=version.steps)
