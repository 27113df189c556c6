"""Automations as JSON documents: export one, preview a document, import one.

A document is versioned and self-contained:

    {"object": "automation_document", "version": 1, "name": "Chase overdue invoices",
     "trigger": "invoice.overdue", "enabled": true, "filters": [...], "steps": [...]}

`filters` and `steps` are the builder's definition as saved. It carries no internal ids: a
"Set retry policy" step that names an existing policy is exported with that policy's schedule
inline (`new_policy`), so the document works where the policy does not exist. (Products in a
product condition are named by their public ids `prod_…`, as the builder saves them: another
account must have them, or the import says which are unknown.)

An import is validated exactly as the builder's save (`DefinitionError.errors`, one message per
field: "steps.2.params.recipient", …) plus the document's own fields ("document", "object",
"version", "name", "trigger", "enabled"). Choices made here:
- A name already used by another automation (not archived) is not refused: " (imported)" is
  appended (" (imported 2)", … if that is taken too), so importing the same file twice works and
  the two stay apart on the list.
- The imported automation is last in its trigger's priority order (as a new one is) and off
  unless the caller asks otherwise: an import never starts runs silently. The document's own
  `enabled` is kept only as information (the preview shows it).
- An inline policy whose name and schedule are those of an existing policy becomes a reference
  to it (what the builder saves when that policy is chosen), so export then import in the same
  account gives back the same definition. Same name, another schedule: the builder's error.
"""

from dataclasses import dataclass, field

from django.db import transaction

import audit
from automations.engine.actions.set_retry_policy import POLICY_FIELDS
from automations.models import Automation
from automations.services.definitions import (
    NAME_MAX_LENGTH,
    CleanDefinition,
    DefinitionError,
    automation_create,
    clean_name,
    validate_definition,
)
from automations.services.summary import summarize
from automations.triggers import TRIGGERS
from billing.models import RetryPolicy

OBJECT = "automation_document"
VERSION = 1
FIELDS = ("object", "version", "name", "trigger", "enabled", "filters", "steps")
IMPORTED = " (imported)"
MAX_BYTES = 256 * 1024  # a document of 20 steps is a few KB: this is room, not a target


class DocumentError(DefinitionError):
    """A document that cannot be imported; `errors` maps a field of the document to its message
    (the builder's own for the definition's fields)."""


def _policy_schedule(policy: RetryPolicy) -> dict:
    return {name: getattr(policy, name) for name in POLICY_FIELDS}


def _export_step(step: dict, policies: dict[str, RetryPolicy]) -> dict:
    params = dict(step.get("params") or {})
    if step.get("action") == "set_retry_policy" and isinstance(params.get("policy"), str):
        policy = policies.get(params["policy"])
        if policy is not None:  # one deleted since stays a reference: the import says it is missing
            params = {"new_policy": _policy_schedule(policy)}
    return {"action": step.get("action"), "delay": dict(step.get("delay") or {}), "params": params}


def automation_export(automation: Automation) -> dict:
    """The automation's current definition as a self-contained document (see the module's docstring)."""
    version = automation.current_version
    filters = list(version.filters) if version else []
    steps = list(version.steps) if version else []
    names = {
        s["params"]["policy"]
        for s in steps
        if s.get("action") == "set_retry_policy" and isinstance((s.get("params") or {}).get("policy"), str)
    }
    policies = {p.name: p for p in RetryPolicy.objects.filter(name__in=names)} if names else {}
    return {
        "object": OBJECT,
        "version": VERSION,
        "name": automation.name,
        "trigger": automation.trigger,
        "enabled": automation.enabled and automation.archived_at is None,
        "filters": [{"type": f.get("type"), "params": dict(f.get("params") or {})} for f in filters],
        "steps": [_export_step(s, policies) for s in steps],
    }


def _document_errors(document) -> dict[str, str]:
    """What is wrong with the document itself, before its definition is looked at."""
    if not isinstance(document, dict):
        return {"document": "The document must be a JSON object with a name, a trigger, filters and steps."}
    errors: dict[str, str] = {}
    if unknown := [str(k) for k in document if k not in FIELDS]:
        errors["document"] = f"Unknown field(s): {', '.join(sorted(unknown))}. A document has {', '.join(FIELDS)}."
    if document.get("object") != OBJECT:
        errors["object"] = f'This is not an automation document: "object" must be "{OBJECT}".'
    version = document.get("version")
    if version != VERSION or isinstance(version, bool):
        errors["version"] = f"Unknown document version {version!r}: this Relance reads version {VERSION}."
    if "name" not in document:
        errors["name"] = "The document has no name."
    if "trigger" not in document:
        errors["trigger"] = "The document has no trigger."
    if "enabled" in document and not isinstance(document["enabled"], bool):
        errors["enabled"] = '"enabled" must be true or false.'
    if "steps" not in document:
        errors["steps"] = "The document has no steps."
    return errors


def _referenced(definition: CleanDefinition) -> list[dict]:
    """The steps with each inline policy that an existing policy already is turned into a reference."""
    names = {
        s["params"]["new_policy"]["name"]
        for s in definition.steps
        if s["action"] == "set_retry_policy" and "new_policy" in s["params"]
    }
    if not names:
        return definition.steps
    existing = {p.name: _policy_schedule(p) for p in RetryPolicy.objects.filter(name__in=names)}
    steps = []
    for step in definition.steps:
        new = step["params"].get("new_policy") if step["action"] == "set_retry_policy" else None
        if new is not None and existing.get(new["name"]) == new:
            step = {**step, "params": {"policy": new["name"]}}
        steps.append(step)
    return steps


def _validated(document) -> tuple[str, CleanDefinition]:
    """The document's name and clean definition; raises DocumentError with every problem at once."""
    errors = _document_errors(document)
    if not isinstance(document, dict):
        raise DocumentError(errors)
    builder_errors: dict[str, str] = {}
    name = clean_name(document["name"], builder_errors) if "name" in document else ""
    try:
        definition = validate_definition(
            trigger=document.get("trigger"), filters=document.get("filters", []), steps=document.get("steps")
        )
    except DefinitionError as exc:
        builder_errors |= exc.errors
    # The document's own message for a missing field is clearer than the builder's "Choose …".
    if errors := builder_errors | errors:
        raise DocumentError(errors)
    return name, CleanDefinition(trigger=definition.trigger, filters=definition.filters, steps=_referenced(definition))


def unique_name(name: str) -> str:
    """The name, or with " (imported)" (then " (imported 2)", …) when an automation already has it."""
    taken = set(
        Automation.objects.filter(archived_at__isnull=True, name__startswith=name[: NAME_MAX_LENGTH - 20]).values_list(
            "name", flat=True
        )
    )
    if name not in taken:
        return name
    n = 1
    while True:
        suffix = IMPORTED if n == 1 else f" (imported {n})"
        candidate = name[: NAME_MAX_LENGTH - len(suffix)].rstrip() + suffix
        if candidate not in taken:
            return candidate
        n += 1


@dataclass(frozen=True)
class Preview:
    """What an import would save, or why it cannot: shown before anything is saved."""

    name: str = ""  # as it would be saved (with " (imported)" on a clash)
    document_name: str = ""
    trigger_label: str = ""
    summary: str = ""
    enabled_in_document: bool | None = None
    filters: int = 0
    steps: int = 0
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return not self.errors

    @property
    def renamed(self) -> bool:
        return bool(self.name) and self.name != self.document_name


def preview(document) -> Preview:
    """The summary of what the document would create (nothing is saved), with its errors if any."""
    try:
        name, definition = _validated(document)
    except DocumentError as exc:
        if not isinstance(document, dict):
            return Preview(errors=exc.errors)
        trigger = TRIGGERS.get(document.get("trigger")) if isinstance(document.get("trigger"), str) else None
        filters, steps = document.get("filters"), document.get("steps")
        filters, steps = (filters if isinstance(filters, list) else []), (steps if isinstance(steps, list) else [])
        raw_name = document.get("name")
        return Preview(
            document_name=raw_name if isinstance(raw_name, str) else "",
            trigger_label=trigger.label if trigger else "",
            summary=summarize(trigger=trigger.key, filters=filters, steps=steps) if trigger else "",
            enabled_in_document=document.get("enabled") if isinstance(document.get("enabled"), bool) else None,
            filters=len(filters),
            steps=len(steps),
            errors=exc.errors,
        )
    return Preview(
        name=unique_name(name),
        document_name=name,
        trigger_label=TRIGGERS[definition.trigger].label,
        summary=summarize(trigger=definition.trigger, filters=definition.filters, steps=definition.steps),
        enabled_in_document=document.get("enabled"),
        filters=len(definition.filters),
        steps=len(definition.steps),
    )


def automation_import(document, *, user=None, enabled: bool = False) -> Automation:
    """Create an automation from a document, last in its trigger's order and off unless `enabled`.

    1. Check the document (object, version, fields) and validate its definition as the builder's
       save does; every problem is raised at once in one DocumentError.
    2. In one transaction: pick a free name (" (imported)" on a clash), create the automation
       with automation_create (which records "automation.created" in the audit log) and record
       "automation.imported" (both only when someone is acting: see audit.context)."""
    name, definition = _validated(document)
    with transaction.atomic():
        automation = automation_create(
            name=unique_name(name),
            trigger=definition.trigger,
            filters=definition.filters,
            steps=definition.steps,
            user=user,
            enabled=enabled,
        )
        renamed = f" (renamed from “{name}”: the name was taken)" if automation.name != name else ""
        audit.record(
            "automation.imported",
            automation,
            summary=f"Imported from a version {VERSION} document{renamed}, {'on' if enabled else 'off'}.",
            after=audit.fields(automation, "name", "trigger", "enabled", "priority")
            | {"filters": len(definition.filters), "steps": len(definition.steps)},
        )
    return automation
