"""The dry run (issue 14): which automation an object's triggers would start now, and when its
steps would run. It reads and never writes: the engine's own rules answer, on unsaved rows.

1. The triggers that apply to the object (`triggers_for`).
2. For each, the enabled automations in priority order (`matching.in_priority_order`), or the
   builder's draft in its place: every filter checked (`filters.FILTERS`), not only up to the
   first that fails, so the page can show each verdict. The first whose filters all hold wins,
   as `matching.first_match` decides.
3. The winner's run as `runs.build_run` would make it, not saved: the step times from now
   (trigger-relative) or from the object's anchor date (date-anchored), a step whose time has
   passed skipped (SPEC §2).
4. No run when the trigger's end condition already holds (`end_conditions.ending_now`: the
   invoice is paid…), or when a date-anchored trigger has no date to time its steps from.
"""

from dataclasses import dataclass, field
from datetime import datetime

from automations.engine.accounts import default_currency
from automations.engine.end_conditions import Ending, ending_now
from automations.engine.filters import FILTERS
from automations.engine.handling import OBJECT_PREFETCH, anchor_of
from automations.engine.matching import in_priority_order
from automations.engine.objects import OBJECT_MODELS
from automations.engine.runs import build_run
from automations.models import Automation, AutomationVersion, StepStatus
from automations.triggers import PAYMENT_FAILED, TRIGGERS, Trigger
from billing import clock
from billing.models import Event

DRAFT_ID = ""  # the public id of the builder's draft among the contenders


@dataclass(frozen=True)
class Verdict:
    """One filter of an automation, checked on the object."""

    label: str
    expected: str
    found: str
    matched: bool


@dataclass(frozen=True)
class PlannedStep:
    position: int
    action: str
    delay: dict
    at: datetime
    passed: bool  # a date-anchored step whose time has passed: it would be skipped


@dataclass(frozen=True)
class Contender:
    """An automation checked for the object: its verdicts and the steps its run would have."""

    automation: Automation
    verdicts: list[Verdict]
    steps: list[PlannedStep]

    @property
    def is_draft(self) -> bool:
        return self.automation.public_id == DRAFT_ID

    @property
    def matched(self) -> bool:
        return all(verdict.matched for verdict in self.verdicts)


@dataclass(frozen=True)
class TriggerPlan:
    """What a trigger would do for the object now."""

    trigger: Trigger
    now: datetime
    anchor: datetime | None  # the date steps are timed from (date-anchored triggers)
    contenders: list[Contender]  # in priority order, every one checked
    winner: Contender | None  # the first whose filters all hold
    ending: Ending | None = None  # the end condition already holds: no run starts
    missing_anchor: bool = False  # a date-anchored trigger, and the object has no such date
    notes: list[str] = field(default_factory=list)

    @property
    def would_start(self) -> bool:
        return self.winner is not None and self.ending is None and not self.missing_anchor

    @property
    def all_steps_passed(self) -> bool:
        return self.winner is not None and all(step.passed for step in self.winner.steps)


def triggers_for(obj) -> list[str]:
    """The triggers whose runs could be about this object, in the order of SPEC §2's table."""
    kind = obj._meta.model_name
    keys = [key for key, trigger in TRIGGERS.items() if trigger.object_type == kind]
    if kind == "invoice":
        if obj.due_date is None:
            keys.remove("invoice.due_date_upcoming")
        if obj.subscription_id is None:
            keys.remove(PAYMENT_FAILED)
    return keys


def load_object(kind: str, public_id: str):
    """The invoice, subscription or quote with what the filters read (None when there is none)."""
    model = OBJECT_MODELS.get(kind)
    if model is None:
        return None
    related = ["customer__test_clock", "subscription"] if kind == "invoice" else ["customer__test_clock"]
    rows = model.objects.select_related(*related).prefetch_related(OBJECT_PREFETCH[kind])
    return rows.filter(public_id=public_id).first()


def draft_automation(*, name: str, trigger: str, filters: list, steps: list) -> Automation:
    """The builder's draft as an unsaved automation (validated definition), to check like the others."""
    automation = Automation(public_id=DRAFT_ID, name=name, trigger=trigger, enabled=True)
    automation.current_version = AutomationVersion(automation=automation, number=0, filters=filters, steps=steps)
    return automation


def verdicts(automation: Automation, obj, *, currency: str | None) -> list[Verdict]:
    """Every filter of the automation's current version, checked on the object."""
    found = []
    for definition in automation.current_version.filters:
        flt = FILTERS.get(definition.get("type"))
        if flt is None:
            found.append(Verdict(str(definition.get("type")), "a known condition", "unknown condition", False))
            continue
        check = flt.check(obj, definition["params"], currency=currency)
        found.append(Verdict(flt.label, check.expected, check.found, check.matched))
    return found


def planned_steps(automation: Automation, obj, *, trigger: str, anchor: datetime | None, now: datetime):
    """The steps of the run the automation would start now, as the engine builds it (unsaved):
    relative steps from now, anchored ones from `anchor`, a passed anchored step skipped."""
    if TRIGGERS[trigger].is_anchored and anchor is None:
        return []
    event = Event(type=trigger, created=now, object_type=obj._meta.model_name, object_id=obj.public_id)
    _, steps = build_run(automation=automation, event=event, trigger=trigger, anchor=anchor, now=now)
    return [
        PlannedStep(step.position, step.action, step.delay, step.scheduled_at, step.status == StepStatus.SKIPPED)
        for step in steps
    ]


def plan(obj, trigger: str, automations: list[Automation], *, now: datetime, currency: str | None = None):
    """What `trigger` would do for the object at `now`, checking `automations` in this order."""
    spec = TRIGGERS[trigger]
    anchor = anchor_of(obj, trigger)
    if currency is None and any(
        f.get("type") == "invoice_amount" for a in automations for f in a.current_version.filters
    ):
        currency = default_currency()
    contenders = [
        Contender(
            automation,
            verdicts(automation, obj, currency=currency),
            planned_steps(automation, obj, trigger=trigger, anchor=anchor, now=now),
        )
        for automation in automations
    ]
    winner = next((contender for contender in contenders if contender.matched), None)
    return TriggerPlan(
        trigger=spec,
        now=now,
        anchor=anchor,
        contenders=contenders,
        winner=winner,
        ending=ending_now(trigger, obj, at=now, anchor=anchor),
        missing_anchor=spec.is_anchored and anchor is None,
    )


def now_for(obj) -> datetime:
    """The object's "now": a customer on a test clock lives at the clock's time."""
    return clock.now(customer=obj.customer)


def dry_run(obj) -> list[TriggerPlan]:
    """For each trigger that applies to the object: the enabled automations checked in priority
    order, the one that would start and when its steps would run. Only reads."""
    now = now_for(obj)
    return [plan(obj, trigger, in_priority_order(trigger), now=now) for trigger in triggers_for(obj)]


def draft_dry_run(obj, draft: Automation, *, above: list[Automation]) -> TriggerPlan:
    """The builder's draft checked on an object: the enabled automations placed above it first
    (one of them may take the object instead), then the draft."""
    return plan(obj, draft.trigger, [*above, draft], now=now_for(obj))
