"""Backfill on enable (issue 14): when an automation is created or turned on, objects may already
be in the state its trigger starts runs for. The builder and the toggle offer to start runs for
them too, after saying how many; this module counts them (`backfill_plan`) and starts the runs
(`backfill_start`).

Each trigger's state, and the event a backfilled run is attached to (every run has one: the
object's latest event that `event_effects.starts` says starts the trigger):

| trigger | objects in the state | the run's event |
|---|---|---|
| invoice.overdue | open invoices found overdue | its `invoice.overdue` |
| invoice.due_date_upcoming | open invoices with a due date (`auto_advance` on: end condition) | the `invoice.finalized` (or `invoice.updated`) that gave it the date |
| invoice.finalized | finalized invoices still open | its `invoice.finalized` |
| subscription.payment_failed | subscription invoices whose payment failed, still open | its first `invoice.payment_failed` |
| quote.expiring | open quotes with an expiry date | the `quote.finalized` that gave it the date |
| subscription.canceled | canceled subscriptions | its `customer.subscription.deleted` |
| subscription.cancel_scheduled | subscriptions (not canceled yet) with a cancellation date | the `customer.subscription.updated` that scheduled it |
| subscription.pause_scheduled | active or past-due subscriptions with a pause start | the `customer.subscription.updated` that scheduled it |

Steps are timed as the engine times them (`runs.build_run`): around the object's date for
date-anchored triggers, after the event for the others. A step whose time has already passed is
skipped with the reason (SPEC §2), never fired late in a burst: so a step at the trigger itself
("wait 0 days") is skipped for every object already in the state, and a canceled subscription of
last year gets nothing. An object with no step left ahead is not offered (its run would do
nothing); the plan says how many were left out so.

An object is offered (`backfill_plan`) when:
1. it is in the trigger's state (the table), at its own "now" (`billing.clock.now(customer=…)`:
   objects on a test clock live at the clock's time);
2. the event that put it there exists and the engine has handled it (an event still waiting for
   its task is left to the engine, which starts the run itself);
3. no run of the trigger was started for that state (by that event or a later one), by this
   automation or another: one run per object and trigger state;
4. the trigger's end condition does not already hold (`end_conditions.ending_now`);
5. the automation's own filters match it (`matching.check_automation`, as the engine checks);
6. at least one of its steps is still ahead.

`backfill_start` plans again and starts each run in its own savepoint: the run and its steps as
the engine builds them, its reason saying it was backfilled, and the event's matching record
pointing at it (the record the engine kept when it handled the event, or a new one). The unique
constraint on (event, trigger) of runs makes a second or concurrent backfill start nothing more
for an object.
"""

from dataclasses import dataclass, field
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Q

import audit
from automations.engine import event_effects
from automations.engine.accounts import default_currency
from automations.engine.end_conditions import ending_now
from automations.engine.filters import rates_memo
from automations.engine.handling import OBJECT_PREFETCH
from automations.engine.matching import check_automation
from automations.engine.objects import OBJECT_MODELS
from automations.engine.runs import ALL_SKIPPED, build_run
from automations.models import Automation, HandledEvent, MatchingRecord, Run, RunStatus, RunStep, StepStatus
from automations.services.summary import plural
from automations.triggers import PAYMENT_FAILED, TRIGGERS
from billing import clock
from billing.errors import DomainError
from billing.models import Event
from billing.models.invoices import InvoiceStatus
from billing.models.quotes import QuoteStatus
from billing.models.subscriptions import SubscriptionStatus

OPEN = InvoiceStatus.OPEN
CHUNK = 1000  # objects whose events and runs are read in one query


@dataclass(frozen=True)
class TriggerState:
    """The objects in a trigger's state (the database's part of the test) and the events that may
    have put them there (`event_effects.starts` has the last word)."""

    objects: Q
    event_types: tuple[str, ...]
    words: tuple[str, str]  # the state in words, for one object and for several
    it: str  # the object as the run's reason names it


STATES = {
    "invoice.overdue": TriggerState(
        Q(status=OPEN, overdue_at__isnull=False), ("invoice.overdue",),
        ("invoice is already overdue", "invoices are already overdue"), "the invoice was already overdue",
    ),
    "invoice.due_date_upcoming": TriggerState(
        Q(status=OPEN, due_date__isnull=False), ("invoice.finalized", "invoice.updated"),
        ("open invoice has a due date", "open invoices have a due date"), "the invoice already had a due date",
    ),
    "invoice.finalized": TriggerState(
        Q(status=OPEN), ("invoice.finalized",),
        ("finalized invoice is still open", "finalized invoices are still open"),
        "the invoice was already finalized",
    ),
    PAYMENT_FAILED: TriggerState(
        Q(status=OPEN, subscription__isnull=False, first_failed_at__isnull=False), ("invoice.payment_failed",),
        ("subscription invoice has a failed payment and is still open",
         "subscription invoices have a failed payment and are still open"),
        "the invoice's payment had already failed",
    ),
    "quote.expiring": TriggerState(
        Q(status=QuoteStatus.OPEN, expires_at__isnull=False), ("quote.finalized",),
        ("open quote has an expiration date", "open quotes have an expiration date"),
        "the quote already had an expiration date",
    ),
    "subscription.canceled": TriggerState(
        Q(status=SubscriptionStatus.CANCELED), ("customer.subscription.deleted",),
        ("subscription is already canceled", "subscriptions are already canceled"),
        "the subscription was already canceled",
    ),
    "subscription.cancel_scheduled": TriggerState(
        ~Q(status=SubscriptionStatus.CANCELED) & Q(cancel_at__isnull=False), ("customer.subscription.updated",),
        ("subscription is already scheduled to cancel", "subscriptions are already scheduled to cancel"),
        "the subscription was already scheduled to cancel",
    ),
    "subscription.pause_scheduled": TriggerState(
        Q(status__in=[SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE], pause_starts_at__isnull=False),
        ("customer.subscription.updated",),
        ("subscription already has a pause of collection scheduled",
         "subscriptions already have a pause of collection scheduled"),
        "the subscription's pause was already scheduled",
    ),
}  # fmt: skip


class BackfillRefused(DomainError):
    """Runs cannot be backfilled for this automation (archived, turned off)."""


@dataclass(frozen=True)
class Candidate:
    """An object a backfill would start a run for."""

    obj: object
    event: Event
    anchor: datetime | None
    check: dict  # the automation's check, for the matching record


@dataclass(frozen=True)
class Plan:
    automation: Automation
    candidates: list[Candidate] = field(default_factory=list)
    too_late: int = 0  # in the state and matching, but every step's time has passed

    @property
    def count(self) -> int:
        return len(self.candidates)

    @property
    def offer(self) -> str:
        """The count in words: 12 invoices are already overdue and match this automation."""
        return offer_words(self.automation.trigger, self.count)

    @property
    def too_late_words(self) -> str:
        if not self.too_late:
            return ""
        one, several = STATES[self.automation.trigger].words
        state = one if self.too_late == 1 else several
        return f"{self.too_late} more {state} and {plural(self.too_late, 'matches', 'match')}, but every step's time has passed."


def offer_words(trigger: str, count: int) -> str:
    one, several = STATES[trigger].words
    return f"{count} {one if count == 1 else several} and {plural(count, 'matches', 'match')} this automation."


def backfill_plan(automation: Automation) -> Plan:
    """The objects a backfill would start runs for now (the module's numbered rules); nothing for
    an automation that is off or archived."""
    automation = Automation.objects.select_related("current_version").get(pk=automation.pk)
    if not automation.enabled or automation.archived_at is not None or automation.current_version is None:
        return Plan(automation)
    trigger = automation.trigger
    objects = _objects_in_state(automation)  # 1.
    events, handled, latest_run = {}, set(), {}
    for start in range(0, len(objects), CHUNK):
        chunk = _state_events(trigger, [obj.public_id for obj in objects[start : start + CHUNK]])
        events |= chunk
        handled |= set(
            HandledEvent.objects.filter(event_id__in=[e.pk for e in chunk.values()]).values_list("event_id", flat=True)
        )
        runs = Run.objects.filter(trigger=trigger, object_id__in=list(chunk)).values_list("object_id", "event_id")
        for object_id, event_id in runs:
            latest_run[object_id] = max(latest_run.get(object_id, 0), event_id)
    candidates, too_late = [], 0
    currency = default_currency() if automation.current_version.filters else None
    with rates_memo():
        for obj in objects:
            event = events.get(obj.public_id)
            if event is None or event.pk not in handled:  # 2.
                continue
            if latest_run.get(obj.public_id, 0) >= event.pk:  # 3.
                continue
            now = clock.now(customer=obj.customer)
            anchor = _anchor(obj, trigger, event)
            if ending_now(trigger, obj, at=now, anchor=anchor) is not None:  # 4.
                continue
            check = check_automation(automation, obj, currency=currency)
            if not check["matched"]:  # 5.
                continue
            _, steps = _built(automation, event, trigger, anchor, now)
            if not any(step.status == StepStatus.PENDING for step in steps):  # 6.
                too_late += 1
                continue
            candidates.append(Candidate(obj=obj, event=event, anchor=anchor, check=check))
    return Plan(automation, candidates, too_late)


def backfill_count(automation: Automation) -> int:
    return backfill_plan(automation).count


@dataclass(frozen=True)
class Backfilled:
    started: int
    skipped_steps: int  # steps whose time had passed, recorded as skipped

    @property
    def words(self) -> str:
        text = f"Started {self.started} {plural(self.started, 'run')}."
        if self.skipped_steps:
            text += (
                f" {self.skipped_steps} {plural(self.skipped_steps, 'step')} whose time had passed "
                f"{plural(self.skipped_steps, 'was', 'were')} skipped."
            )
        return text


def backfill_start(*, automation: Automation) -> Backfilled:
    """Start the runs `backfill_plan` finds now, each in its own savepoint; an object a concurrent
    backfill (or the engine) took meanwhile is left alone."""
    automation = Automation.objects.select_related("current_version").get(pk=automation.pk)
    if automation.archived_at is not None:
        raise BackfillRefused("An archived automation starts no run.")
    if not automation.enabled:
        raise BackfillRefused("Turn the automation on before starting runs for objects already in its state.")
    started = skipped = 0
    for candidate in backfill_plan(automation).candidates:
        try:
            with transaction.atomic():
                skipped += _start(automation, candidate)
        except IntegrityError:
            continue  # (event, trigger) has a run already: taken meanwhile
        started += 1
    done = Backfilled(started, skipped)
    if started:
        # One entry for the backfill, not one per run (each run was saved in its own savepoint).
        audit.record(
            "automation.backfilled",
            automation,
            summary=done.words,
            after={"runs_started": started, "steps_skipped": skipped},
        )
    return done


def _start(automation: Automation, candidate: Candidate) -> int:
    """Save the run, its steps and its matching record; returns how many steps were skipped."""
    trigger, event, obj = automation.trigger, candidate.event, candidate.obj
    now = clock.now(customer=obj.customer)
    run, steps = _built(automation, event, trigger, candidate.anchor, now)
    if run.status == RunStatus.ACTIVE:
        run.reason = _reason(automation, trigger)
    else:
        run.reason = f"backfilled: {ALL_SKIPPED}"
    if run.test_clock_id is None:
        run.test_clock_id = obj.customer.test_clock_id
    run.save(force_insert=True)
    RunStep.objects.bulk_create(steps)
    outcome = f"backfilled on {now:%Y-%m-%d %H:%M}: started a run of {automation.name}"
    check = candidate.check | {"backfilled": True}
    record = MatchingRecord.objects.select_for_update().filter(event=event, trigger=trigger).first()
    if record is None:
        MatchingRecord.objects.create(
            event=event, trigger=trigger, handled_at=now, checks=[check], run=run, outcome=outcome[:300]
        )
    else:
        record.checks = [*record.checks, check]
        record.run = run
        record.outcome = f"{outcome} (when the event was handled: {record.outcome})"[:300]
        record.save(update_fields=["checks", "run", "outcome"])
    return sum(1 for step in steps if step.status == StepStatus.SKIPPED)


def _reason(automation: Automation, trigger: str) -> str:
    name = automation.name if len(automation.name) <= 80 else automation.name[:79] + "…"
    return f"backfilled: {STATES[trigger].it} when “{name}” was turned on"


def _built(automation: Automation, event: Event, trigger: str, anchor: datetime | None, now: datetime):
    """The run and its steps as the engine builds them (`build_run`), at the object's `now`.

    `build_run` skips the passed steps of date-anchored triggers; the steps of a relative trigger
    are timed after the event, which may be long past here: those whose time has passed are
    skipped the same way, never fired late in a burst."""
    run, steps = build_run(automation=automation, event=event, trigger=trigger, anchor=anchor, now=now)
    if not TRIGGERS[trigger].is_anchored:
        for step in steps:
            if step.status == StepStatus.PENDING and step.scheduled_at < now:
                step.status = StepStatus.SKIPPED
                step.error = f"Its time ({step.scheduled_at:%Y-%m-%d %H:%M}) had passed when the run was backfilled."
        if all(step.status == StepStatus.SKIPPED for step in steps):
            run.status, run.reason, run.finished_at = RunStatus.COMPLETED, ALL_SKIPPED, now
    return run, steps


def _objects_in_state(automation: Automation) -> list:
    trigger = TRIGGERS[automation.trigger]
    rows = OBJECT_MODELS[trigger.object_type].objects.select_related("customer__test_clock")
    if trigger.object_type == "invoice":
        rows = rows.select_related("subscription")
    if any(f["type"] == "product" for f in automation.current_version.filters):
        rows = rows.prefetch_related(OBJECT_PREFETCH[trigger.object_type])
    return list(rows.filter(STATES[automation.trigger].objects).order_by("pk"))


def _state_events(trigger: str, object_ids: list[str]) -> dict[str, Event]:
    """For each object, its latest event that starts `trigger` (the one that put it in the state)."""
    found: dict[str, Event] = {}
    rows = Event.objects.filter(object_id__in=object_ids, type__in=STATES[trigger].event_types).order_by("-pk")
    for event in rows.iterator(chunk_size=2000):
        if event.object_id in found:
            continue
        if any(start.trigger == trigger for start in event_effects.starts(event)):
            found[event.object_id] = event
    return found


def _anchor(obj, trigger: str, event: Event) -> datetime | None:
    """The object's own anchor date (as the engine takes it), else the event's."""
    field_name = TRIGGERS[trigger].anchor_field
    if not field_name:
        return None
    if moment := getattr(obj, field_name):
        return moment
    return next((start.anchor for start in event_effects.starts(event) if start.trigger == trigger), None)
