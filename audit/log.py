"""Writing the audit log: `record` one change, in the transaction that makes it."""

from datetime import date, datetime
from decimal import Decimal

from django.db import transaction

from audit.context import current_actor
from audit.models import AuditEntry

_TEXT_LIMIT = 200  # a before/after value longer than this is cut: the log says what changed, briefly


def plain(value):
    """`value` as short JSON: money as "12.00 EUR", decimals and moments as text, objects by id."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return value if len(value) <= _TEXT_LIMIT else value[: _TEXT_LIMIT - 1] + "…"
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "amount") and hasattr(value, "currency"):  # djmoney's Money
        return f"{value.amount} {value.currency}"
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(item) for item in value]
    if hasattr(value, "_meta"):  # a model instance: its public id, else its pk
        return str(getattr(value, "public_id", None) or value.pk)
    return plain(str(value))


def fields(obj, *names: str) -> dict:
    """The named attributes of `obj`, as `record` stores them (for before/after)."""
    return {name: plain(getattr(obj, name)) for name in names}


def _changed_only(before: dict | None, after: dict | None) -> tuple[dict | None, dict | None]:
    """With both sides given, keep only the keys whose values differ (the log stays short)."""
    if before is None or after is None:
        return before, after
    keys = [key for key in {**before, **after} if before.get(key) != after.get(key)]
    return {key: before.get(key) for key in keys if key in before}, {
        key: after.get(key) for key in keys if key in after
    }


def _clip(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def record(
    action: str,
    obj=None,
    *,
    object_type: str | None = None,
    object_id: str | None = None,
    label: str | None = None,
    summary: str = "",
    before: dict | None = None,
    after: dict | None = None,
) -> AuditEntry | None:
    """Record that the current actor did `action` (e.g. "invoice.voided") to `obj`.

    1. With no actor (jobs, the engine, the demo), nothing is recorded: returns None.
    2. The object is named by `obj` (its public id, else its pk, and its str) unless
       object_id/label say otherwise; the type is the action's prefix ("invoice") unless given.
    3. With both `before` and `after`, only the keys whose values changed are kept.
    4. The row is written in the caller's transaction, so it commits or rolls back with the
       change (outside a transaction it commits on its own).
    """
    actor = current_actor()
    if actor is None:
        return None
    if object_type is None:
        object_type = action.rpartition(".")[0] or action
    if obj is not None:
        if object_id is None:
            object_id = str(getattr(obj, "public_id", None) or obj.pk)
        if label is None:
            label = str(obj)
    before, after = _changed_only(plain(before), plain(after))
    with transaction.atomic(savepoint=False):
        return AuditEntry.objects.create(
            actor_kind=actor.kind,
            actor_id=_clip(actor.ident, 64),
            actor_label=_clip(actor.label, 200),
            action=_clip(action, 64),
            object_type=_clip(object_type, 40),
            object_id=_clip(object_id or "", 64),
            object_label=_clip(label or "", 200),
            summary=_clip(summary, 300),
            before=before,
            after=after,
        )
