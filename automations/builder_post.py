"""The builder's post (no Django form): the posted fields as a draft, the draft as a definition for the engine, and
the builder's own actions (add, remove, move, change trigger) applied to the draft.

The POST is flat so that it works without JavaScript too:

    name, trigger, previous_trigger, validated, new_filter, builder_action, place_before
    filter-<i>-type, filter-<i>-key, -value, -min, -max, -interval, -decline_type, -code, -products (repeated)
    step-<i>-action, step-<i>-amount, step-<i>-unit, step-<i>-direction,
    step-<i>-policy_mode (existing|new), -policy, -policy_name, -schedule_kind, -max_retries,
    -within_days, -day_offsets, -end_behavior, -recipient, -message, -survey_url, -label, -subject, -body

Rows are found by their index (any digits), kept in index order and renumbered from 0, so a
hostile POST with gaps, garbage or huge indexes cannot break the page; at most MAX_FILTERS
conditions and MAX_STEPS steps are read.
"""

import math
import re
from dataclasses import dataclass, field
from datetime import timedelta

from django.http import QueryDict

from automations.engine.actions import ACTIONS
from automations.engine.filters import FILTERS
from automations.engine.scheduling import UNITS
from automations.services.definitions import ENDS_AT_ANCHOR, LATEST_BEFORE_END, MAX_STEPS
from automations.services.summary import plural
from automations.triggers import TRIGGERS

MAX_FILTERS = len(FILTERS)  # each condition type at most once
MAX_INDEX_DIGITS = 4
MAX_AMOUNT_DIGITS = 12  # longer digit strings are "too large" without building a huge int

FILTER_FIELDS = ("key", "value", "min", "max", "interval", "decline_type", "code")
STEP_FIELDS = (
    "policy_mode",
    "policy",
    "policy_name",
    "schedule_kind",
    "max_retries",
    "within_days",
    "day_offsets",
    "end_behavior",
    "recipient",
    "message",
    "survey_url",
    "label",
    "subject",
    "body",
    "preview_invoice",  # the builder's preview of a customer email (not saved)
)
NEW_POLICY_FIELDS = {  # form field → the inline policy's field
    "policy_name": "name",
    "schedule_kind": "schedule_kind",
    "max_retries": "max_retries",
    "within_days": "within_days",
    "day_offsets": "day_offsets",
    "end_behavior": "end_behavior",
}
ACTION_FIELDS = {  # the form fields each action's parameters come from
    "set_retry_policy": ("policy_mode", "policy", *NEW_POLICY_FIELDS),
    "send_team_email": ("recipient", "message"),
    "send_cancellation_email": ("survey_url",),
    "send_custom_event_webhook": ("label",),
    "email_customer": ("subject", "body"),
}
EXISTING, NEW = "existing", "new"

_ROW = re.compile(rf"^(filter|step)-(\d{{1,{MAX_INDEX_DIGITS}}})-([a-z_]+)$")


@dataclass
class FilterRow:
    type: str
    params: dict = field(default_factory=dict)  # as typed: strings, and a list for products


@dataclass
class StepRow:
    action: str = ""
    amount: str = "0"
    unit: str = "days"
    direction: str = ""
    params: dict = field(default_factory=dict)  # as typed, strings keyed by STEP_FIELDS


@dataclass
class Draft:
    """What the builder shows: the automation as typed so far, valid or not."""

    name: str = ""
    trigger: str = ""
    filters: list[FilterRow] = field(default_factory=list)
    steps: list[StepRow] = field(default_factory=list)
    validated: bool = False  # a save was tried: keep showing the problems as they are fixed
    notices: list[str] = field(default_factory=list)
    focus: str = ""  # the id of the control to focus after a builder action
    # The public id of the automation it goes just above in its trigger's order ("" for last);
    # None when the form did not say (a new automation goes last, an edited one keeps its place).
    place_before: str | None = None

    @property
    def trigger_obj(self):
        return TRIGGERS.get(self.trigger)


def _text(data: QueryDict, key: str) -> str:
    """One value as a string: the last of repeated keys, like Django forms."""
    value = data.get(key, "")
    return value if isinstance(value, str) else ""


def _rows(data: QueryDict, kind: str) -> dict[int, set[str]]:
    rows: dict[int, set[str]] = {}
    for key in data:
        match = _ROW.match(key)
        if match and match.group(1) == kind:
            rows.setdefault(int(match.group(2)), set()).add(match.group(3))
    return rows


def parse_post(data: QueryDict) -> Draft:
    """The posted builder form as a draft (never raises on malformed input)."""
    draft = Draft(
        name=_text(data, "name"),
        trigger=_text(data, "trigger"),
        validated=_text(data, "validated") == "1",
        place_before=_text(data, "place_before").strip() if "place_before" in data else None,
    )
    filter_rows = _rows(data, "filter")
    for index in sorted(filter_rows)[:MAX_FILTERS]:
        prefix = f"filter-{index}-"
        params = {name: _text(data, prefix + name) for name in FILTER_FIELDS}
        params["products"] = [p for p in data.getlist(prefix + "products") if isinstance(p, str)][:200]
        draft.filters.append(FilterRow(type=_text(data, prefix + "type"), params=params))
    if len(filter_rows) > MAX_FILTERS:
        draft.notices.append(f"Only the first {MAX_FILTERS} conditions were kept.")
    step_rows = _rows(data, "step")
    for index in sorted(step_rows)[:MAX_STEPS]:
        prefix = f"step-{index}-"
        draft.steps.append(
            StepRow(
                action=_text(data, prefix + "action"),
                amount=_text(data, prefix + "amount").strip(),
                unit=_text(data, prefix + "unit"),
                direction=_text(data, prefix + "direction"),
                params={name: _text(data, prefix + name) for name in STEP_FIELDS},
            )
        )
    if len(step_rows) > MAX_STEPS:
        draft.notices.append(f"An automation can have at most {MAX_STEPS} steps: only the first {MAX_STEPS} were kept.")
    return draft


def draft_from_definition(*, name: str, trigger: str, filters: list, steps: list) -> Draft:
    """A saved definition as the builder's draft (for the edit page)."""
    draft = Draft(name=name, trigger=trigger)
    for item in filters:
        params = dict(item.get("params") or {})
        row = {name: "" if params.get(name) is None else str(params.get(name)) for name in FILTER_FIELDS}
        row["products"] = list(params.get("products") or [])
        draft.filters.append(FilterRow(type=item.get("type", ""), params=row))
    for item in steps:
        delay, params = item.get("delay") or {}, item.get("params") or {}
        row = dict.fromkeys(STEP_FIELDS, "")
        if item.get("action") == "set_retry_policy":
            new = params.get("new_policy")
            if isinstance(new, dict):
                row["policy_mode"] = NEW
                for form_name, policy_name in NEW_POLICY_FIELDS.items():
                    value = new.get(policy_name)
                    if isinstance(value, list):
                        value = ", ".join(str(v) for v in value)
                    row[form_name] = "" if value is None else str(value)
            else:
                row["policy_mode"], row["policy"] = EXISTING, params.get("policy", "")
        else:
            row.update({k: str(v) for k, v in params.items() if k in STEP_FIELDS})
        draft.steps.append(
            StepRow(
                action=item.get("action", ""),
                amount=str(delay.get("amount", 0)),
                unit=delay.get("unit", "days"),
                direction=delay.get("direction", ""),
                params=row,
            )
        )
    return draft


# The draft as a definition ----------------------------------------------------------------------


def _amount(raw: str):
    """A whole number from ASCII digits; anything else goes to the engine as is, which refuses it.

    (Not str.isdigit: "²" is a digit to Python but not a number int() reads.)"""
    if re.fullmatch(r"[0-9]+", raw):
        return int(raw) if len(raw) <= MAX_AMOUNT_DIGITS else 10**MAX_AMOUNT_DIGITS
    return None if raw == "" else "not a number"


def _filter_params(row: FilterRow) -> dict:
    p = row.params
    if row.type in ("customer_metadata", "invoice_metadata"):
        return {"key": p.get("key", ""), "value": p.get("value", "")}
    if row.type == "invoice_amount":
        return {"min": p.get("min", "").strip(), "max": p.get("max", "").strip()}
    if row.type == "subscription_interval":
        return {"interval": p.get("interval", "")}
    if row.type == "product":
        return {"products": list(p.get("products") or [])}
    if row.type == "decline_type":
        return {"decline_type": p.get("decline_type", "")}
    if row.type == "failure_code":
        return {"code": p.get("code", "")}
    return {}


def _step_params(row: StepRow) -> dict:
    p = row.params
    if row.action == "set_retry_policy":
        if p.get("policy_mode") == NEW:
            return {"new_policy": {policy: p.get(form, "") for form, policy in NEW_POLICY_FIELDS.items()}}
        return {"policy": p.get("policy", "")}
    return {name: p.get(name, "") for name in ACTION_FIELDS.get(row.action, ())}


def step_delay(row: StepRow, trigger) -> dict:
    delay = {"amount": _amount(row.amount), "unit": row.unit}
    if trigger is not None and trigger.is_anchored:
        delay["direction"] = row.direction
    return delay


def to_definition(draft: Draft) -> dict:
    """The draft as validate_definition / automation_create take it: trigger, filters, steps."""
    trigger = draft.trigger_obj
    return {
        "trigger": draft.trigger,
        "filters": [{"type": row.type, "params": _filter_params(row)} for row in draft.filters],
        "steps": [
            {"action": row.action, "delay": step_delay(row, trigger), "params": _step_params(row)}
            for row in draft.steps
        ],
    }


# Builder actions ----------------------------------------------------------------------------------


def new_step(draft: Draft) -> StepRow:
    """A new step timed sensibly: right after the trigger (or 1 day after the previous step); for
    date-anchored triggers 1 day before the date, or at the previous step's time (kept in order)."""
    trigger = draft.trigger_obj
    if trigger is not None and trigger.is_anchored:
        if draft.steps:
            last = draft.steps[-1]
            return StepRow(amount=last.amount, unit=last.unit or "days", direction=last.direction or "before")
        return StepRow(amount="1", unit="days", direction="before")
    return StepRow(amount="1" if draft.steps else "0", unit="days")


def _hours(row: StepRow) -> int | None:
    amount = _amount(row.amount)
    if not isinstance(amount, int) or row.unit not in UNITS:
        return None
    return math.ceil(amount * (UNITS[row.unit] / timedelta(hours=1)))


def _as_amount(hours: int) -> tuple[str, str]:
    return (str(hours // 24), "days") if hours % 24 == 0 else (str(hours), "hours")


def convert_delays(steps: list[StepRow], old, new) -> bool:
    """Re-express the delays for the new trigger's timing; True when the form of a delay changed.

    Same timing: amounts kept (minutes become whole hours for an anchored trigger). Relative →
    anchored: each step "N after the date", N the time it used to happen after the trigger, so
    the steps stay in time order. Anchored → relative: the waits between the former offsets (a
    step before the date happens right away)."""
    old_anchored = bool(old and old.is_anchored)
    if not new.is_anchored:
        if old_anchored:
            previous = 0
            for row in steps:
                hours = _hours(row)
                if hours is None:
                    row.direction = ""
                    continue
                offset = -hours if row.direction == "before" else hours
                row.amount, row.unit = _as_amount(max(offset - max(previous, 0), 0))
                previous = max(previous, offset)
                row.direction = ""
            return bool(steps)
        for row in steps:
            row.direction = ""
        return False
    if old_anchored:
        for row in steps:
            if row.unit == "minutes":
                row.amount, row.unit = _as_amount(_hours(row) or 0)
        return False
    total = 0
    for row in steps:
        hours = _hours(row)
        if hours is None:
            row.unit, row.direction = "days", "after"
            continue
        total += hours
        row.amount, row.unit = _as_amount(total)
        row.direction = "after"
    return bool(steps)


def _signed_hours(row: StepRow) -> int | None:
    hours = _hours(row)
    return None if hours is None else (-hours if row.direction == "before" else hours)


def move_before_anchor(steps: list[StepRow]) -> bool:
    """Move the whole schedule earlier, spacing kept, so that its last step is 1 day before the
    anchor date (for a trigger whose run ends at that date); True when a step moved."""
    offsets = [_signed_hours(row) for row in steps]
    known = [o for o in offsets if o is not None]
    latest = -LATEST_BEFORE_END.total_seconds() // 3600
    if not known or max(known) <= latest:
        return False
    shift = max(known) + 24
    for row, offset in zip(steps, offsets, strict=True):
        if offset is not None:
            row.amount, row.unit = _as_amount(shift - offset)
        row.direction = "before"
    return True


def change_trigger(draft: Draft, old_key: str) -> None:
    """Drop the conditions and steps the new trigger does not allow, saying so, and convert the delays."""
    new, old = draft.trigger_obj, TRIGGERS.get(old_key)
    if new is None or old is None or new.key == old.key:
        return
    dropped_filters = [
        r for r in draft.filters if r.type in FILTERS and new.key not in FILTERS[r.type].allowed_triggers
    ]
    dropped_steps = [
        r for r in draft.steps if r.action in ACTIONS and new.key not in ACTIONS[r.action].allowed_triggers
    ]
    draft.filters = [r for r in draft.filters if r not in dropped_filters]
    draft.steps = [r for r in draft.steps if r not in dropped_steps]
    if dropped_filters or dropped_steps:
        parts = []
        if dropped_filters:
            labels = ", ".join(FILTERS[r.type].label for r in dropped_filters)
            parts.append(f"{plural(len(dropped_filters), 'condition')} {labels}")
        if dropped_steps:
            labels = ", ".join(ACTIONS[r.action].label for r in dropped_steps)
            parts.append(f"{plural(len(dropped_steps), 'step')} {labels}")
        draft.notices.append(f"Removed because '{new.label}' does not allow them: {'; '.join(parts)}.")
    converted = convert_delays(draft.steps, old, new)
    if (reason := ENDS_AT_ANCHOR.get(new.key)) and move_before_anchor(draft.steps):
        draft.notices.append(f"{reason}: the steps are now timed before {anchor_name(new)}. Check the delays.")
    elif converted and old.is_anchored != new.is_anchored:
        if new.is_anchored:
            draft.notices.append(
                f"The steps are now timed from {anchor_name(new)}: each happens as long after it as it "
                "used to after the trigger. Check the delays."
            )
        else:
            draft.notices.append("The steps now wait after the previous step. Check the delays.")


def anchor_name(trigger) -> str:
    from automations.services.summary import ANCHOR_NAMES

    return ANCHOR_NAMES.get(trigger.anchor_field, "the date")


def _index(text: str, rows: list) -> int | None:
    if re.fullmatch(r"[0-9]{1,4}", text or "") and int(text) < len(rows):
        return int(text)
    return None


def apply_action(draft: Draft, action: str, *, new_filter: str = "") -> None:
    """Apply one builder action ("add_step", "remove_step:2", "move_step:2:up", "add_filter",
    "remove_filter:0", "refresh") to the draft; an unknown or stale one changes nothing."""
    verb, _, rest = action.partition(":")
    arg, _, direction = rest.partition(":")
    trigger = draft.trigger_obj
    if verb == "add_filter":
        used = {r.type for r in draft.filters}
        flt = FILTERS.get(new_filter)
        if trigger is None:
            draft.notices.append("Choose a trigger first.")
        elif flt is None or trigger.key not in flt.allowed_triggers:
            draft.notices.append("Choose a condition to add.")
        elif new_filter in used:
            draft.notices.append(f"{flt.label} is already a condition.")
        else:
            draft.filters.append(FilterRow(type=new_filter, params={"products": []}))
            draft.focus = f"filter-{len(draft.filters) - 1}-first"
    elif verb == "remove_filter" and (i := _index(arg, draft.filters)) is not None:
        del draft.filters[i]
        draft.focus = "new_filter"
    elif verb == "add_step":
        if trigger is None:
            draft.notices.append("Choose a trigger first.")
        elif len(draft.steps) >= MAX_STEPS:
            draft.notices.append(f"An automation can have at most {MAX_STEPS} steps.")
        else:
            draft.steps.append(new_step(draft))
            draft.focus = f"step-{len(draft.steps) - 1}-action"
    elif verb == "remove_step" and (i := _index(arg, draft.steps)) is not None:
        del draft.steps[i]
        draft.focus = f"step-{i - 1}-remove" if i > 0 and draft.steps else "add-step"
    elif verb == "move_step" and (i := _index(arg, draft.steps)) is not None and direction in ("up", "down"):
        j = i - 1 if direction == "up" else i + 1
        if 0 <= j < len(draft.steps):
            draft.steps[i], draft.steps[j] = draft.steps[j], draft.steps[i]
            # Keep the focus on the moved step; at the top or bottom, on its other move button.
            at_end = (direction == "up" and j == 0) or (direction == "down" and j == len(draft.steps) - 1)
            other = "down" if direction == "up" else "up"
            draft.focus = f"step-{j}-{other if at_end else direction}"


# Errors -------------------------------------------------------------------------------------------

ROW_LEVEL = "row"


@dataclass
class SortedErrors:
    """DefinitionError.errors sorted by where they are shown: the name, the trigger, each row's
    fields (ROW_LEVEL for the row as a whole) and the rest (for the summary at the top)."""

    fields: dict[str, str] = field(default_factory=dict)
    filters: dict[int, dict[str, str]] = field(default_factory=dict)
    steps: dict[int, dict[str, str]] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return (
            len(self.fields)
            + sum(map(len, self.filters.values()))
            + sum(map(len, self.steps.values()))
            + len(self.general)
        )


def _step_field(draft: Draft, index: int, name: str) -> str:
    row = draft.steps[index]
    if row.action == "set_retry_policy":
        if row.params.get("policy_mode") == NEW:
            reverse = {policy: form for form, policy in NEW_POLICY_FIELDS.items()}
            return reverse.get(name, "policy_name" if name == "new_policy" else ROW_LEVEL)
        return "policy" if name in ("policy", "new_policy") else ROW_LEVEL
    return name if name in ACTION_FIELDS.get(row.action, ()) else ROW_LEVEL


def sort_errors(errors: dict[str, str], draft: Draft) -> SortedErrors:
    out = SortedErrors()
    for key, message in errors.items():
        parts = key.split(".")
        if key in ("name", "trigger", "filters", "steps"):
            out.fields[key] = message
        elif parts[0] in ("filters", "steps") and len(parts) >= 2 and parts[1].isascii() and parts[1].isdigit():
            index = int(parts[1])
            rows = draft.filters if parts[0] == "filters" else draft.steps
            if index >= len(rows):
                out.general.append(message)
                continue
            rest = parts[2:]
            if parts[0] == "filters":
                name = rest[-1] if rest and rest[0] in ("type", "params") and len(rest) <= 2 else ROW_LEVEL
                if name == "params":
                    name = ROW_LEVEL
                target = out.filters.setdefault(index, {})
            else:
                if rest[:1] in (["action"], ["delay"]):
                    name = rest[0]
                elif rest[:1] == ["params"] and len(rest) == 2:
                    name = _step_field(draft, index, rest[1])
                else:
                    name = ROW_LEVEL
                target = out.steps.setdefault(index, {})
            # Two messages for one spot (e.g. a row-level one) are shown together.
            target[name] = f"{target[name]} {message}" if name in target else message
        else:
            out.general.append(message)
    return out
