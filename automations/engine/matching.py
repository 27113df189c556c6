"""Which automation an event starts: enabled automations of the trigger in priority order, the
first whose filters all match. Every check is kept for the event's matching record."""

from automations.engine.accounts import default_currency
from automations.engine.filters import FILTERS
from automations.models import Automation


def in_priority_order(trigger: str) -> list[Automation]:
    """The automations the engine checks for an event of `trigger`: enabled, not archived, first first."""
    return list(
        Automation.objects.filter(trigger=trigger, archived_at__isnull=True, enabled=True)
        .select_related("current_version")
        .order_by("priority", "id")
    )


def check_automation(automation: Automation, obj, *, currency: str | None = None) -> dict:
    """The record of one automation's check: matched, or the first filter that failed and why."""
    record = {"automation": automation.public_id, "name": automation.name, "version": automation.current_version.number}
    for definition in automation.current_version.filters:
        f = FILTERS[definition["type"]]
        result = f.check(obj, definition["params"], currency=currency)
        if not result.matched:
            return record | {"matched": False, "filter": f.label, "expected": result.expected, "found": result.found}
    return record | {"matched": True}


def first_match(
    trigger: str, obj, *, automations: list[Automation] | None = None, currency: str | None = None
) -> tuple[Automation | None, list[dict]]:
    """The automation that wins for this object (or None) and the checks made, in order.

    The batch path passes the trigger's automations (`in_priority_order`) and the default
    currency, read once for all its events."""
    checks = []
    if automations is None:
        automations = in_priority_order(trigger)
    if currency is None and automations:
        currency = default_currency()  # once per event, not per amount filter
    for automation in automations:
        record = check_automation(automation, obj, currency=currency)
        checks.append(record)
        if record["matched"]:
            return automation, checks
    return None, checks
