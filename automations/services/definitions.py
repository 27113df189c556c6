"""Automation definitions: validation, versions, priority, enabling, disabling and archiving.

A definition is a trigger, filters `[{"type", "params"}]` and steps `[{"action", "delay", "params"}]`.
Saved definitions are immutable `AutomationVersion`s: an edit makes a new version and runs in
progress keep the one they started with (SPEC §2).
"""

import re
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction

import audit
from automations.engine.actions import ACTIONS
from automations.engine.filters import FILTERS, InvalidParams
from automations.engine.scheduling import ANCHORED_UNITS, UNITS
from automations.models import Automation, AutomationVersion, Run, RunStatus, RunStep, StepStatus
from automations.services.summary import ANCHOR_NAMES
from automations.triggers import TRIGGERS, Trigger
from billing import clock
from billing.errors import DomainError

MAX_STEPS = 20
NAME_MAX_LENGTH = 200
MAX_AMOUNT = {"minutes": 365 * 24 * 60, "hours": 365 * 24, "days": 365}
DIRECTIONS = ("before", "after")
FINISH, CANCEL = "finish", "cancel"
# Triggers whose run ends at the anchor date itself: a step at or after it could never run. A
# quote is canceled by the expiry job at its expiry (`quote.canceled` ends the run); even "0 …
# at the expiry" races that job, and a quote can no longer be accepted at that moment.
ENDS_AT_ANCHOR = {"quote.expiring": "A quote is canceled at its expiry, which ends the run"}
LATEST_BEFORE_END = timedelta(hours=1)
TURNED_OFF = "automation turned off"


class AutomationArchived(DomainError):
    """The automation is archived: it can no longer be edited, turned on or archived again."""


class DefinitionError(DomainError):
    """A definition (or a priority order) that cannot be saved; `errors` maps a field to its message,
    e.g. {"steps.2.params.recipient": "Enter an address."}."""

    def __init__(self, errors: dict[str, str]):
        super().__init__(" ".join(errors.values()))
        self.errors = errors


@dataclass(frozen=True)
class CleanDefinition:
    trigger: str
    filters: list[dict]
    steps: list[dict]


def _params_errors(prefix: str, exc: InvalidParams) -> dict[str, str]:
    # An action that takes no settings reports them under "params": that is the whole params field.
    return {(prefix if name == "params" else f"{prefix}.{name}"): message for name, message in exc.errors.items()}


def _clean_filters(trigger: Trigger, filters, errors: dict[str, str]) -> list[dict]:
    if not isinstance(filters, list):
        errors["filters"] = "Conditions must be a list."
        return []
    cleaned, seen = [], set()
    for i, item in enumerate(filters):
        prefix = f"filters.{i}"
        if not isinstance(item, dict):
            errors[prefix] = "Each condition needs a type and its settings."
            continue
        key, params = item.get("type"), item.get("params") or {}
        flt = FILTERS.get(key) if isinstance(key, str) else None
        if flt is None:
            errors[f"{prefix}.type"] = f"Unknown condition {key!r}." if key else "Choose a condition."
            continue
        if trigger.key not in flt.allowed_triggers:
            errors[f"{prefix}.type"] = f"{flt.label} is not available for '{trigger.label}'."
            continue
        if key in seen:
            errors[f"{prefix}.type"] = f"{flt.label} is already a condition; combine its settings in one row."
            continue
        seen.add(key)
        if not isinstance(params, dict):
            errors[f"{prefix}.params"] = "The condition's settings are not valid."
            continue
        try:
            cleaned.append({"type": key, "params": flt.clean(params)})
        except InvalidParams as exc:
            errors.update(_params_errors(f"{prefix}.params", exc))
    return cleaned


def _clean_delay(trigger: Trigger, delay) -> tuple[dict | None, str]:
    """The normalized delay, or None and the message saying what is wrong with it."""
    if not isinstance(delay, dict):
        return None, "Enter a delay (0 for no wait)."
    amount, unit, direction = delay.get("amount"), delay.get("unit"), delay.get("direction")
    # Only ASCII digits: str.isdigit() accepts "²", which int() refuses.
    if isinstance(amount, str) and re.fullmatch(r"[0-9]{1,9}", amount.strip()):
        amount = int(amount)
    if not isinstance(amount, int) or isinstance(amount, bool) or amount < 0:
        return None, "The delay must be a whole number, 0 or more."
    units = ANCHORED_UNITS if trigger.is_anchored else UNITS
    if unit not in units:
        return None, f"Steps of '{trigger.label}' are timed in {' or '.join(units)}."
    if amount > MAX_AMOUNT[unit]:
        return None, f"A delay can be at most 365 days ({MAX_AMOUNT[unit]} {unit})."
    if trigger.is_anchored:
        if direction not in DIRECTIONS:
            return None, "Choose whether the step happens before or after the date."
        delay = {"amount": amount, "unit": unit, "direction": direction}
        if (reason := ENDS_AT_ANCHOR.get(trigger.key)) and anchored_offset(delay) > -LATEST_BEFORE_END:
            anchor = ANCHOR_NAMES.get(trigger.anchor_field, "the date")
            return None, f"{reason}: time this step before {anchor} (1 hour before at the latest)."
        return delay, ""
    if direction not in (None, ""):
        return None, "A wait after the previous step has no before or after."
    return {"amount": amount, "unit": unit}, ""


def anchored_offset(delay: dict) -> timedelta:
    """The signed offset of an anchored step from its anchor date (negative before it)."""
    offset = ANCHORED_UNITS[delay["unit"]] * delay["amount"]
    return -offset if delay["direction"] == "before" else offset


def _clean_steps(trigger: Trigger, steps, errors: dict[str, str]) -> list[dict]:
    if not isinstance(steps, list):
        errors["steps"] = "Steps must be a list."
        return []
    if not steps:
        errors["steps"] = "Add at least one step."
        return []
    if len(steps) > MAX_STEPS:
        errors["steps"] = f"An automation can have at most {MAX_STEPS} steps."
        return []
    cleaned, previous_offset = [], None
    for i, item in enumerate(steps):
        prefix = f"steps.{i}"
        if not isinstance(item, dict):
            errors[prefix] = "Each step needs an action and a delay."
            continue
        step_ok = True
        key = item.get("action")
        action = ACTIONS.get(key) if isinstance(key, str) else None
        params = item.get("params") or {}
        if action is None:
            errors[f"{prefix}.action"] = f"Unknown action {key!r}." if key else "Choose an action."
            step_ok = False
        elif trigger.key not in action.allowed_triggers:
            errors[f"{prefix}.action"] = f"{action.label} is not available for '{trigger.label}'."
            step_ok = False
        elif not isinstance(params, dict):
            errors[f"{prefix}.params"] = "The step's settings are not valid."
            step_ok = False
        else:
            try:
                params = action.clean(params)
            except InvalidParams as exc:
                errors.update(_params_errors(f"{prefix}.params", exc))
                step_ok = False
        delay, message = _clean_delay(trigger, item.get("delay"))
        if delay is None:
            errors[f"{prefix}.delay"] = message
            continue
        if trigger.is_anchored:
            # Steps run in their listed order, so anchored steps must be listed in time order.
            offset = anchored_offset(delay)
            if previous_offset is not None and offset < previous_offset:
                errors[f"{prefix}.delay"] = "This step would happen before the previous one; list steps in time order."
                step_ok = False
            previous_offset = offset
        if step_ok:
            cleaned.append({"action": key, "delay": delay, "params": params})
    return cleaned


NUL_MESSAGE = "Remove the null character (\\x00) from this text."


def _nul_errors(value, path: str, errors: dict[str, str]) -> None:
    """Say where a NUL character is: PostgreSQL stores none in text or JSON."""
    if isinstance(value, str):
        if "\x00" in value:
            errors[path] = NUL_MESSAGE
    elif isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}".replace("\x00", "")
            if isinstance(key, str) and "\x00" in key:
                errors[where] = NUL_MESSAGE
            _nul_errors(item, where, errors)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _nul_errors(item, f"{path}.{i}", errors)


def validate_definition(*, trigger: str, filters: list, steps: list) -> CleanDefinition:
    """Check a definition against the registries and return it normalized (cleaned params and delays).

    Raises DefinitionError with one message per field ("filters.0.type", "steps.2.delay", …).
    """
    trig = TRIGGERS.get(trigger) if isinstance(trigger, str) else None
    if trig is None:
        raise DefinitionError({"trigger": f"Unknown trigger {trigger!r}." if trigger else "Choose a trigger."})
    errors: dict[str, str] = {}
    _nul_errors(filters, "filters", errors)
    _nul_errors(steps, "steps", errors)
    if errors:
        raise DefinitionError(errors)
    clean_filters = _clean_filters(trig, filters, errors)
    clean_steps = _clean_steps(trig, steps, errors)
    if errors:
        raise DefinitionError(errors)
    return CleanDefinition(trigger=trig.key, filters=clean_filters, steps=clean_steps)


def clean_name(name, errors: dict[str, str]) -> str:
    """The name without surrounding spaces; its problem, if any, goes to errors["name"]."""
    name = name.strip() if isinstance(name, str) else ""
    if not name:
        errors["name"] = "Enter a name."
    elif "\x00" in name:
        errors["name"] = NUL_MESSAGE
    elif len(name) > NAME_MAX_LENGTH:
        errors["name"] = f"A name can be at most {NAME_MAX_LENGTH} characters."
    return name


def _validate(*, name, trigger: str, filters, steps, errors: dict[str, str]) -> tuple[str, CleanDefinition]:
    """The name and the definition, with the errors of both in one DefinitionError."""
    name = clean_name(name, errors) if name is not None else ""
    try:
        definition = validate_definition(trigger=trigger, filters=filters, steps=steps)
    except DefinitionError as exc:
        raise DefinitionError(errors | exc.errors) from None
    if errors:
        raise DefinitionError(errors)
    return name, definition


def _active_automations(trigger: str):
    return Automation.objects.filter(trigger=trigger, archived_at__isnull=True)


def _locked(automation: Automation) -> Automation:
    return Automation.objects.select_for_update().get(pk=automation.pk)


def _place(automation: Automation, place_before: str, user=None) -> None:
    """Put the automation just above `place_before` (a public id; "" for last) in its trigger's
    order and renumber the priorities 1..n; call it inside the transaction that saves it.
    Raises DefinitionError when `place_before` is not another automation of the trigger."""
    others = list(
        _active_automations(automation.trigger).select_for_update().exclude(pk=automation.pk).order_by("priority", "id")
    )
    ids = [a.public_id for a in others]
    if place_before and place_before not in ids:
        label = TRIGGERS[automation.trigger].label
        raise DefinitionError(
            {
                "place_before": f"The automation to place it before is no longer among those of '{label}': "
                "choose its place again."
            }
        )
    index = ids.index(place_before) if place_before else len(others)
    order = [*others[:index], automation, *others[index:]]
    now, changed = clock.now(), []
    for priority, row in enumerate(order, start=1):
        if row.priority != priority:
            row.priority = priority
            if row.pk != automation.pk:
                row.updated, row.updated_by = now, user or row.updated_by
                changed.append(row)
    Automation.objects.bulk_update(changed, ["priority", "updated", "updated_by"])
    automation.save(update_fields=["priority"])


def automation_create(
    *,
    name: str,
    trigger: str,
    filters: list,
    steps: list,
    user=None,
    enabled: bool = True,
    place_before: str | None = None,
) -> Automation:
    """Create an automation with version 1 of its definition, last in its trigger's priority order
    or, with `place_before` (a public id of the trigger's automations), just above that one."""
    name, definition = _validate(name=name, trigger=trigger, filters=filters, steps=steps, errors={})
    with transaction.atomic():
        priorities = list(_active_automations(trigger).select_for_update().values_list("priority", flat=True))
        automation = Automation.objects.create(
            name=name,
            trigger=definition.trigger,
            enabled=enabled,
            priority=max(priorities, default=0) + 1,
            created_by=user,
            updated_by=user,
        )
        version = AutomationVersion.objects.create(
            automation=automation, number=1, filters=definition.filters, steps=definition.steps, created_by=user
        )
        automation.current_version = version
        automation.save(update_fields=["current_version"])
        if place_before:
            _place(automation, place_before, user)
        audit.record(
            "automation.created",
            automation,
            summary=f"On “{TRIGGERS[automation.trigger].label}”, {'on' if enabled else 'off'}, priority {automation.priority}.",
            after=audit.fields(automation, "name", "trigger", "enabled", "priority") | {"version": 1},
        )
    return automation


def automation_update(
    *,
    automation: Automation,
    filters: list,
    steps: list,
    name: str | None = None,
    trigger: str | None = None,
    user=None,
    place_before: str | None = None,
) -> Automation:
    """Save an edited definition as a new version (old versions are never changed) and rename.

    The trigger cannot change: `trigger` may be given only to state the current one. A new
    version is made only when the filters or steps differ from the current version; runs in
    progress keep the version they started with (see runs_on_old_versions). With `place_before`
    (a public id, or "" for last) the automation moves in its trigger's order in the same save.
    """
    errors: dict[str, str] = {}
    if trigger is not None and trigger != automation.trigger:
        errors["trigger"] = "The trigger of an automation cannot change; create a new automation instead."
    name, definition = _validate(name=name, trigger=automation.trigger, filters=filters, steps=steps, errors=errors)
    with transaction.atomic():
        locked = _locked(automation)
        if locked.archived_at is not None:
            raise AutomationArchived("An archived automation cannot be edited.")
        before = _audited(locked)
        fields = ["updated", "updated_by"]
        locked.updated_by = user or locked.updated_by
        if name:
            locked.name = name
            fields.append("name")
        current = locked.current_version
        if current is None or (current.filters, current.steps) != (definition.filters, definition.steps):
            last = locked.versions.order_by("-number").values_list("number", flat=True).first() or 0
            locked.current_version = AutomationVersion.objects.create(
                automation=locked,
                number=last + 1,
                filters=definition.filters,
                steps=definition.steps,
                created_by=user,
            )
            fields.append("current_version")
        locked.save(update_fields=fields)
        if place_before is not None:
            _place(locked, place_before, user)
        after = _audited(locked)
        new_version = after["version"] != before["version"]
        audit.record(
            "automation.updated",
            locked,
            summary=f"Saved as version {after['version']}." if new_version else "Saved; the definition is unchanged.",
            before=before,
            after=after,
        )
    return locked


def _audited(automation: Automation) -> dict:
    """What an edit of the automation may change, for the audit log."""
    version = automation.current_version
    return audit.fields(automation, "name", "priority") | {"version": version.number if version else None}


def runs_on_old_versions(automation: Automation) -> int:
    """How many active runs of the automation go on with a version older than the current one."""
    return (
        Run.objects.filter(automation=automation, status=RunStatus.ACTIVE)
        .exclude(version_id=automation.current_version_id)
        .count()
    )


def automation_reorder(*, trigger: str, ordered_ids: list[str], user=None) -> list[Automation]:
    """Set priorities 1..n from `ordered_ids` (public ids), which must list every non-archived
    automation of the trigger exactly once. Returns the automations in their new order."""
    trig = TRIGGERS.get(trigger)
    if trig is None:
        raise DefinitionError({"trigger": f"Unknown trigger {trigger!r}."})
    if not isinstance(ordered_ids, list) or not all(isinstance(i, str) for i in ordered_ids):
        raise DefinitionError({"ordered_ids": "Send the automations' ids in their new order."})
    with transaction.atomic():
        rows = {a.public_id: a for a in _active_automations(trigger).select_for_update().order_by("priority", "id")}
        problems = []
        if duplicated := sorted({i for i in ordered_ids if ordered_ids.count(i) > 1}):
            problems.append(f"Listed more than once: {', '.join(duplicated)}.")
        if strangers := [i for i in dict.fromkeys(ordered_ids) if i not in rows]:
            other = dict(Automation.objects.filter(public_id__in=strangers).values_list("public_id", "trigger"))
            unknown = [i for i in strangers if i not in other]
            elsewhere = [i for i in strangers if other.get(i) not in (None, trigger)]
            archived = [i for i in strangers if other.get(i) == trigger]
            if unknown:
                problems.append(f"Unknown automation(s): {', '.join(unknown)}.")
            if elsewhere:
                problems.append(f"Not automations of '{trig.label}': {', '.join(elsewhere)}.")
            if archived:
                problems.append(f"Archived: {', '.join(archived)}.")
        if missing := [i for i in rows if i not in ordered_ids]:
            problems.append(f"Missing from the order: {', '.join(missing)}.")
        if problems:
            raise DefinitionError({"ordered_ids": " ".join(problems)})
        now, changed = clock.now(), []
        for priority, public_id in enumerate(ordered_ids, start=1):
            automation = rows[public_id]
            if automation.priority != priority:
                automation.priority, automation.updated = priority, now
                automation.updated_by = user or automation.updated_by
                changed.append(automation)
        Automation.objects.bulk_update(changed, ["priority", "updated", "updated_by"])
        if changed:
            audit.record(
                "automation.reordered",
                label=trig.label,
                summary=f"New priority order of “{trig.label}”.",
                before={"order": [a.name for a in rows.values()]},
                after={"order": [rows[i].name for i in ordered_ids]},
            )
    return [rows[i] for i in ordered_ids]


def _renumber(trigger: str) -> None:
    """Close the gaps in a trigger's priority order (1..n, same relative order)."""
    rows = list(_active_automations(trigger).select_for_update().order_by("priority", "id"))
    changed = []
    for priority, automation in enumerate(rows, start=1):
        if automation.priority != priority:
            automation.priority = priority
            changed.append(automation)
    Automation.objects.bulk_update(changed, ["priority"])


def automation_enable(*, automation: Automation, user=None) -> Automation:
    """Turn the automation on: it matches events again from now on."""
    with transaction.atomic():
        locked = _locked(automation)
        if locked.archived_at is not None:
            raise AutomationArchived("An archived automation cannot be turned on.")
        if not locked.enabled:
            locked.enabled = True
            locked.updated_by = user or locked.updated_by
            locked.save(update_fields=["enabled", "updated", "updated_by"])
            audit.record(
                "automation.enabled", locked, summary="Turned on.", before={"enabled": False}, after={"enabled": True}
            )
    return locked


def _cancel_active_runs(automation: Automation) -> int:
    """Cancel every active run of the automation and all their pending steps at once."""
    run_ids = list(
        Run.objects.select_for_update()
        .filter(automation=automation, status=RunStatus.ACTIVE)
        .values_list("id", flat=True)
    )
    if run_ids:
        Run.objects.filter(id__in=run_ids).update(status=RunStatus.CANCELED, reason=TURNED_OFF, finished_at=clock.now())
        RunStep.objects.filter(run_id__in=run_ids, status=StepStatus.PENDING).update(status=StepStatus.CANCELED)
    return len(run_ids)


def _check_in_flight(in_flight: str) -> None:
    if in_flight not in (FINISH, CANCEL):
        raise DefinitionError({"in_flight": "Choose whether runs in progress finish or are canceled."})


def automation_disable(*, automation: Automation, in_flight: str, user=None) -> int:
    """Turn the automation off: it matches nothing until turned on again.

    Runs in progress go on (`in_flight="finish"`) or are canceled now with their pending steps
    (`"cancel"`). Returns the number of runs in progress (finishing, or just canceled).
    """
    _check_in_flight(in_flight)
    with transaction.atomic():
        locked = _locked(automation)
        was_enabled = locked.enabled
        if locked.enabled:
            locked.enabled = False
            locked.updated_by = user or locked.updated_by
            locked.save(update_fields=["enabled", "updated", "updated_by"])
        if in_flight == CANCEL:
            in_progress, fate = _cancel_active_runs(locked), "canceled"
        else:
            in_progress, fate = Run.objects.filter(automation=locked, status=RunStatus.ACTIVE).count(), "finishing"
        if was_enabled or in_progress:
            audit.record(
                "automation.disabled",
                locked,
                summary=f"Turned off; runs in progress {fate}: {in_progress}.",
                before={"enabled": was_enabled},
                after={"enabled": False},
            )
        return in_progress


def automation_archive(*, automation: Automation, in_flight: str = FINISH, user=None) -> Automation | None:
    """Remove an automation from its trigger's priority order, keeping its history.

    1. An automation that never ran is deleted (returns None).
    2. Otherwise it is turned off and archived (runs in progress finish, or are canceled with
       `in_flight="cancel"`), and the priorities of the others are renumbered 1..n.
    """
    _check_in_flight(in_flight)
    with transaction.atomic():
        locked = _locked(automation)
        if locked.archived_at is not None:
            raise AutomationArchived("This automation is already archived.")
        if not locked.runs.exists():
            # current_version is PROTECTed; release it so the versions can go with the automation.
            Automation.objects.filter(pk=locked.pk).update(current_version=None)
            locked.current_version = None
            locked.delete()
            _renumber(locked.trigger)
            audit.record(
                "automation.deleted",
                object_id=automation.public_id,
                label=locked.name,
                summary="Deleted: it never ran.",
                before=audit.fields(locked, "name", "trigger", "enabled"),
            )
            return None
        if in_flight == CANCEL:
            _cancel_active_runs(locked)
        was_enabled = locked.enabled
        locked.archived_at, locked.enabled = clock.now(), False
        locked.updated_by = user or locked.updated_by
        locked.save(update_fields=["archived_at", "enabled", "updated", "updated_by"])
        _renumber(locked.trigger)
        audit.record(
            "automation.archived",
            locked,
            summary=f"Archived; runs in progress {'canceled' if in_flight == CANCEL else 'finish'}.",
            before={"enabled": was_enabled, "archived": False},
            after={"enabled": False, "archived": True},
        )
    return locked
