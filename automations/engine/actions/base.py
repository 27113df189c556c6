"""What every action is: a label, the triggers it is allowed for, its parameters, and one
`execute(step)` that does the real thing once.

`execute` returns a small JSON-able result, or raises:
- ActionSkipped(reason): the action no longer applies (invoice already void) → step `skipped`;
- ActionError(message, permanent=False): a transient failure is retried with backoff; a
  permanent one fails the step and the run;
- ActionWait(until, reason): hold the run at this step and look again at `until` (the retry
  policy step waits until the policy is exhausted).
Side effects must happen once even when `execute` runs twice for one step: billing services
check state under a row lock, emails and webhooks use `step.idempotency_key`.
"""

from datetime import datetime

from automations.engine.filters import InvalidParams
from automations.engine.objects import OBJECT_MODELS


class ActionSkipped(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class ActionError(Exception):
    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.message = message
        self.permanent = permanent


class ActionWait(Exception):
    def __init__(self, until: datetime, reason: str):
        super().__init__(reason)
        self.until = until
        self.reason = reason


class Action:
    key: str
    label: str
    allowed_triggers: set[str]
    # Its own effect can meet its run's end condition (voiding an invoice ends an overdue run).
    # When such a step is retried, that state may be its own earlier attempt's doing, which the
    # action tells apart itself (`done_earlier`); the engine's end-condition check leaves it be.
    can_end_its_run: bool = False
    # Same-kind steps of a batch can act as one set (`read_set` then `execute_set`): one read
    # of their objects, one write per table, instead of the queries of each step in turn.
    acts_as_set: bool = False

    def clean(self, params: dict) -> dict:
        """Validated parameters (raise InvalidParams with a message per field)."""
        if params:
            raise InvalidParams({"params": f"{self.label} takes no settings."})
        return {}

    def describe(self, params: dict) -> str:
        """Plain-language summary of the step, e.g. "void the invoice"."""
        return self.label[0].lower() + self.label[1:]

    def execute(self, step) -> dict:
        raise NotImplementedError

    def read_set(self, steps: list) -> dict[int, object]:
        """The objects of a set of steps by step pk, in one query (locked when the action
        changes them); a step whose object is gone is left out (it is then run on its own)."""
        return read_run_objects(steps)

    def execute_set(self, steps: list, objects: dict[int, object]) -> dict[int, dict | Exception]:
        """What `execute` does for each step, as a set: by step pk, its result, or the
        ActionSkipped / ActionError / ActionWait that `execute` would have raised. Anything
        else raised undoes the whole set, whose steps are then run one by one."""
        raise NotImplementedError


ACTIONS: dict[str, Action] = {}  # filled by each action's module (see __init__.py), by key


def register(action_class: type[Action]) -> type[Action]:
    """Class decorator: add one instance of the action to ACTIONS."""
    ACTIONS[action_class.key] = action_class()
    return action_class


PRELOADED = "run_objects"


def preload_run_objects(runs) -> None:
    """Within a batch of steps (`batch_lookups`), read the runs' objects in one query per kind.
    `run_object` hands each out once: a second step on the same object reads it afresh, as the
    first may have changed it."""
    from automations.engine.actions.common import batch_memo, in_batch

    if not in_batch():
        return
    preloaded = batch_memo(PRELOADED, dict)
    by_kind: dict[str, set[str]] = {}
    for run in runs:
        by_kind.setdefault(run.object_type, set()).add(run.object_id)
    for kind, public_ids in by_kind.items():
        objects = OBJECT_MODELS[kind].objects.select_related("customer").filter(public_id__in=public_ids)
        preloaded.update(((kind, obj.public_id), obj) for obj in objects)


def give_back_run_object(step, obj) -> None:
    """Within a batch, hand `obj` (just read for `step`) to the step's action, which asks for it
    with `run_object` next, instead of reading it again."""
    from automations.engine.actions.common import batch_memo

    if obj is not None:
        batch_memo(PRELOADED, dict)[(step.run.object_type, step.run.object_id)] = obj


def read_run_objects(
    steps: list, *, lock: bool = False, related: dict | None = None, prefetch: dict | None = None
) -> dict:
    """The steps' run objects by step pk, in one query per kind of object (`related` and
    `prefetch`: per kind, what to read with them; locked with `lock`)."""
    by_kind: dict[str, set[str]] = {}
    for step in steps:
        by_kind.setdefault(step.run.object_type, set()).add(step.run.object_id)
    found = {}
    for kind, public_ids in by_kind.items():
        rows = OBJECT_MODELS[kind].objects.select_related(*(related or {}).get(kind, ("customer",)))
        rows = rows.prefetch_related(*(prefetch or {}).get(kind, ()))
        if lock:  # in pk order: the same order in every worker
            rows = rows.select_for_update(of=("self",)).order_by("pk")
        found |= {(kind, obj.public_id): obj for obj in rows.filter(public_id__in=public_ids)}
    keys = {step.pk: (step.run.object_type, step.run.object_id) for step in steps}
    return {pk: found[key] for pk, key in keys.items() if key in found}


def run_object(step):
    """The invoice, quote or subscription the step's run is about (fresh from the database, or
    read with the rest of its batch moments ago)."""
    from automations.engine.actions.common import batch_memo

    key = (step.run.object_type, step.run.object_id)
    if (obj := batch_memo(PRELOADED, dict).pop(key, None)) is not None:
        return obj
    return OBJECT_MODELS[key[0]].objects.select_related("customer").get(public_id=key[1])


__all__ = ["Action", "ActionError", "ActionSkipped", "ActionWait", "InvalidParams", "run_object"]
