"""Reads for the automations dashboard: the list by trigger, an automation's versions and runs,
and a run's timeline. Every read has a fixed number of queries, whatever the number of rows."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection
from django.db.models import Count, QuerySet
from django.urls import reverse

from automations.engine.accounts import default_currency
from automations.engine.actions import ACTIONS
from automations.engine.filters import FILTERS
from automations.models import Automation, AutomationVersion, Run, RunStatus, RunStep, StepStatus
from automations.services.summary import (
    ANCHOR_NAMES,
    Parameter,
    anchored_delay_words,
    duration_words,
    retry_policies_named,
    step_parameters,
    summarize,
)
from automations.triggers import TRIGGERS, Trigger
from billing.models import PaymentAttempt, Product

VERSIONS_SHOWN = 20
RUN_STATUSES = [
    (RunStatus.ACTIVE.value, "In progress"),
    *((s.value, s.label) for s in RunStatus if s != RunStatus.ACTIVE),
]
OBJECT_URLS = {"invoice": "invoice_detail", "quote": "quote_detail", "subscription": "subscription_detail"}
UNFINISHED = (StepStatus.PENDING, StepStatus.RUNNING)


def trigger_slug(key: str) -> str:
    """The trigger key as an HTML id part: "invoice.overdue" → "invoice-overdue"."""
    return key.replace(".", "-")


# --- The list, grouped by trigger -------------------------------------------------------------


@dataclass
class AutomationRow:
    automation: Automation
    conditions: str
    active_runs: int = 0
    completed_runs: int = 0
    is_first: bool = False
    is_last: bool = False
    never_reached: str = ""  # why no event can reach it (never_reached_notes)


NEVER_REACHED = "never reached: “{name}” above it matches every event"


@dataclass(frozen=True)
class Rank:
    """One automation in its trigger's order, as never_reached_notes needs it."""

    key: str
    name: str
    enabled: bool
    matches_all: bool  # it has no filter conditions


def never_reached_notes(ranks: list[Rank]) -> dict[str, str]:
    """The automations of one trigger (in priority order) that no event can reach, with the reason.

    The engine runs the first enabled automation whose filters match: below an enabled one without
    filters, no enabled automation ever runs. Disabled ones neither shadow the others nor are
    reported (they match nothing anyway)."""
    notes, above = {}, None
    for rank in ranks:
        if not rank.enabled:
            continue
        if above is not None:
            notes[rank.key] = NEVER_REACHED.format(name=above)
        elif rank.matches_all:
            above = rank.name
    return notes


def rank_of(automation: Automation) -> Rank:
    filters = automation.current_version.filters if automation.current_version else []
    return Rank(automation.public_id, automation.name, automation.enabled, not filters)


@dataclass
class TriggerGroup:
    trigger: Trigger
    rows: list[AutomationRow] = field(default_factory=list)

    @property
    def slug(self) -> str:
        return trigger_slug(self.trigger.key)


def _conditions_text(filters: list, products: dict[str, str], currency: str) -> str:
    """The filters in words, from names read once for the whole list (describe() reads the database)."""
    parts = []
    for item in filters:
        key, params = item.get("type"), item.get("params") or {}
        flt = FILTERS.get(key)
        if flt is None:
            continue
        if key == "product":
            names = sorted(products.get(i, i) for i in params.get("products", []))
            parts.append("containing " + " or ".join(names))
        elif key == "invoice_amount":
            low, high = params.get("min"), params.get("max")
            if low and high:
                parts.append(f"invoice amount from {low} to {high} {currency}")
            elif low:
                parts.append(f"invoice amount at least {low} {currency}")
            else:
                parts.append(f"invoice amount at most {high} {currency}")
        else:
            try:
                parts.append(flt.describe(params))
            except (KeyError, TypeError, ValueError):
                parts.append(flt.label)
    return "; ".join(parts) if parts else "All"


def run_counts(automation_ids: list[int]) -> dict[int, tuple[int, int]]:
    """Runs in progress and completed runs of each automation, in one aggregate query.

    Grouped by (automation, status) and counting rows, not ids, so PostgreSQL answers from the
    `run_automation_status` index alone (an index-only scan) instead of reading every run.
    """
    rows = (
        Run.objects.filter(automation_id__in=automation_ids, status__in=[RunStatus.ACTIVE, RunStatus.COMPLETED])
        .values_list("automation_id", "status")
        .annotate(n=Count("*"))
        .order_by()
    )
    counts: dict[int, tuple[int, int]] = {}
    for automation_id, status, n in rows:
        active, completed = counts.get(automation_id, (0, 0))
        counts[automation_id] = (n, completed) if status == RunStatus.ACTIVE else (active, n)
    return counts


def automation_groups(trigger: str | None = None) -> list[TriggerGroup]:
    """Every trigger (or just `trigger`) in display order, each with its non-archived automations
    in priority order, their conditions in words and their run counts. Four queries at most."""
    automations = Automation.objects.filter(archived_at__isnull=True).select_related("current_version", "updated_by")
    if trigger is not None:
        automations = automations.filter(trigger=trigger)
    automations = list(automations.order_by("priority", "id"))
    product_ids = {
        product_id
        for a in automations
        if a.current_version
        for f in a.current_version.filters
        if f.get("type") == "product"
        for product_id in f.get("params", {}).get("products", [])
    }
    products = dict(Product.objects.filter(public_id__in=product_ids).values_list("public_id", "name"))
    needs_currency = any(
        f.get("type") == "invoice_amount" for a in automations if a.current_version for f in a.current_version.filters
    )
    currency = default_currency() if needs_currency else ""
    counts = run_counts([a.pk for a in automations]) if automations else {}
    keys = [trigger] if trigger is not None else list(TRIGGERS)
    groups = {key: TriggerGroup(TRIGGERS[key]) for key in keys}
    for automation in automations:
        filters = automation.current_version.filters if automation.current_version else []
        active, completed = counts.get(automation.pk, (0, 0))
        groups[automation.trigger].rows.append(
            AutomationRow(automation, _conditions_text(filters, products, currency), active, completed)
        )
    for group in groups.values():
        if group.rows:
            group.rows[0].is_first = True
            group.rows[-1].is_last = True
        notes = never_reached_notes([rank_of(row.automation) for row in group.rows])
        for row in group.rows:
            row.never_reached = notes.get(row.automation.public_id, "")
    return list(groups.values())


DRAFT = ""  # the key of the automation being built among the ranks of a placement
DRAFT_NAME = "This automation"


@dataclass(frozen=True)
class PlaceRow:
    rank: Rank
    is_draft: bool
    never_reached: str


@dataclass(frozen=True)
class Placement:
    """The builder's view of a trigger's order with the automation being built (or edited) in it."""

    rows: list[PlaceRow]
    index: int  # the draft's row
    place_before: str  # the automation right below it ("" when it is last)
    stale: bool  # the place asked for is no longer among the trigger's automations

    def moved(self, direction: str) -> str:
        """The place_before that moves the draft one row up or down (the same at either end)."""
        others = [row.rank.key for row in self.rows if not row.is_draft]
        index = self.index - 1 if direction == "up" else self.index + 1
        index = min(max(index, 0), len(others))
        return others[index] if index < len(others) else ""


def builder_placement(
    trigger: str, *, automation: Automation | None, name: str, matches_all: bool, place_before: str | None
) -> Placement:
    """The trigger's other automations in priority order with the draft at `place_before` (None:
    where it is now, or last for a new one), each with its "never reached" note. One query."""
    others = list(
        Automation.objects.filter(trigger=trigger, archived_at__isnull=True)
        .exclude(pk=automation.pk if automation else None)
        .select_related("current_version")
        .order_by("priority", "id")
    )
    ids = [a.public_id for a in others]
    stale = bool(place_before) and place_before not in ids
    if place_before is None and automation is not None:
        below = [a.public_id for a in others if (a.priority, a.pk) > (automation.priority, automation.pk)]
        place_before = below[0] if below else ""
    elif place_before is None or stale:
        place_before = ""
    index = ids.index(place_before) if place_before else len(ids)
    enabled = automation.enabled if automation is not None else True
    draft = Rank(DRAFT, name.strip() or DRAFT_NAME, enabled, matches_all)
    ranks = [rank_of(a) for a in others]
    ranks.insert(index, draft)
    notes = never_reached_notes(ranks)
    rows = [PlaceRow(rank, rank.key == DRAFT, notes.get(rank.key, "")) for rank in ranks]
    return Placement(rows=rows, index=index, place_before=place_before, stale=stale)


def priority_order(trigger: str) -> list[str]:
    """The public ids of a trigger's non-archived automations, first checked first."""
    return list(
        Automation.objects.filter(trigger=trigger, archived_at__isnull=True)
        .order_by("priority", "id")
        .values_list("public_id", flat=True)
    )


def active_run_count(automation: Automation) -> int:
    return Run.objects.filter(automation=automation, status=RunStatus.ACTIVE).count()


# --- An automation: definition, versions, runs ------------------------------------------------


def automation_detail(public_id: str) -> Automation:
    """The automation (archived ones too: their history stays readable); raises DoesNotExist."""
    return Automation.objects.select_related("current_version", "created_by", "updated_by").get(public_id=public_id)


@dataclass(frozen=True)
class VersionRow:
    version: AutomationVersion
    summary: str
    runs: int
    is_current: bool
    runs_capped: bool = False  # more runs than `runs` (RUN_COUNT_CAP)


def automation_versions(automation: Automation) -> tuple[list[VersionRow], int]:
    """The newest versions (with their summary and number of runs) and how many there are in all."""
    total = automation.versions.count()
    versions = list(automation.versions.select_related("created_by").order_by("-number")[:VERSIONS_SHOWN])
    run_count = _run_counts([v.pk for v in versions])
    rows = [
        VersionRow(
            version=v,
            summary=summarize(trigger=automation.trigger, filters=v.filters, steps=v.steps),
            runs=min(run_count.get(v.pk, 0), RUN_COUNT_CAP),
            runs_capped=run_count.get(v.pk, 0) > RUN_COUNT_CAP,
            is_current=v.pk == automation.current_version_id,
        )
        for v in versions
    ]
    return rows, total


RUN_COUNT_CAP = 10_000  # a version's runs are counted up to this (the page shows "10,000+")


def _run_counts(version_ids: list[int]) -> dict[int, int]:
    """Runs per version, counted apart from the run table's version index alone, each up to
    RUN_COUNT_CAP + 1 (on PostgreSQL: counting every run of a busy version costs more than the
    rest of the page)."""
    if not version_ids:
        return {}
    if connection.vendor != "postgresql":
        return dict(
            Run.objects.filter(version_id__in=version_ids).values_list("version_id").annotate(n=Count("*")).order_by()
        )
    table = connection.ops.quote_name(Run._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT v.id, (SELECT count(*) FROM (SELECT 1 FROM {table} r WHERE r.version_id = v.id LIMIT %s) s) "
            "FROM unnest(%s::bigint[]) AS v (id)",
            [RUN_COUNT_CAP + 1, version_ids],
        )
        return dict(cursor.fetchall())


def automation_runs(automation: Automation, status: str = "") -> QuerySet[Run]:
    runs = (
        Run.objects.filter(automation=automation).select_related("version", "test_clock").order_by("-started_at", "-id")
    )
    if status:
        runs = runs.filter(status=status)
    return runs


@dataclass(frozen=True)
class RunRow:
    run: Run
    object_url: str
    next_step: RunStep | None
    last_step: RunStep | None

    @property
    def next_step_label(self) -> str:
        return step_label(self.next_step) if self.next_step else ""


def run_rows(runs: list[Run]) -> list[RunRow]:
    """The runs of a page with, for each, its current or next step (one query for the whole page)."""
    steps: dict[int, list[RunStep]] = {}
    for step in RunStep.objects.filter(run_id__in=[r.pk for r in runs]).order_by("run_id", "position"):
        steps.setdefault(step.run_id, []).append(step)
    rows = []
    for run in runs:
        own = steps.get(run.pk, [])
        unfinished = [s for s in own if s.status in UNFINISHED]
        done = [s for s in own if s.executed_at]
        rows.append(
            RunRow(
                run=run,
                object_url=reverse(OBJECT_URLS[run.object_type], args=[run.object_id])
                if run.object_type in OBJECT_URLS
                else "",
                next_step=unfinished[0] if run.status == RunStatus.ACTIVE and unfinished else None,
                last_step=done[-1] if done else None,
            )
        )
    return rows


# --- A run's timeline -------------------------------------------------------------------------


def step_label(step: RunStep) -> str:
    action = ACTIONS.get(step.action)
    return action.label if action else step.action


def delay_words(trigger: Trigger, delay: dict, position: int) -> str:
    """The step's delay as defined: "3 days after the previous step", "2 days before the due date"."""
    if not isinstance(delay, dict):
        return ""
    if trigger.is_anchored:
        return anchored_delay_words(delay, ANCHOR_NAMES.get(trigger.anchor_field, "the date"))
    after = "the trigger" if position == 1 else "the previous step"
    if not delay.get("amount"):
        return f"right after {after}"
    return f"{duration_words(delay)} after {after}"


@dataclass
class TimelineStep:
    step: RunStep
    label: str
    description: str
    delay: str
    is_next: bool = False
    waiting: str = ""  # the reason a step holds the run (a retry policy in progress)
    provisional: bool = False  # its time depends on an earlier step that has not finished

    @property
    def result_items(self) -> list[tuple[str, str]]:
        result = self.step.result
        if not isinstance(result, dict):
            return []
        return [(str(k), str(v)) for k, v in result.items() if k != "waiting"]


@dataclass
class Timeline:
    run: Run
    trigger: Trigger | None
    steps: list[TimelineStep]
    next_step: TimelineStep | None
    object_url: str
    # The payment attempts of the run's invoice, oldest first: the retries a policy step waits for.
    payments: list[PaymentAttempt] = field(default_factory=list)

    @property
    def next_time(self) -> datetime | None:
        return self.next_step.step.scheduled_at if self.next_step else None


def _describe_action(step: RunStep) -> str:
    action = ACTIONS.get(step.action)
    if action is None:
        return ""
    try:
        return action.describe(step.params if isinstance(step.params, dict) else {})
    except (KeyError, TypeError, ValueError, AttributeError):
        return ""


def run_timeline(automation: Automation, run_id: str) -> Timeline:
    """The run of this automation with its steps in order; raises Run.DoesNotExist.

    For trigger-relative runs, a pending step after an unfinished one has only a provisional time
    (the engine times it from the end of the previous step), so it is flagged `provisional`.
    """
    run = Run.objects.select_related("event", "version", "automation", "test_clock").get(
        automation=automation, public_id=run_id
    )
    trigger = TRIGGERS.get(run.trigger)
    rows, blocked = [], False
    for step in run.steps.order_by("position"):
        row = TimelineStep(
            step=step,
            label=step_label(step),
            description=_describe_action(step),
            delay=delay_words(trigger, step.delay, step.position) if trigger else "",
        )
        if step.status in UNFINISHED:
            if isinstance(step.result, dict) and step.result.get("waiting"):
                row.waiting = str(step.result["waiting"])
            row.provisional = blocked and trigger is not None and not trigger.is_anchored
            blocked = True
        rows.append(row)
    next_step = None
    if run.status == RunStatus.ACTIVE:
        next_step = next((r for r in rows if r.step.status in UNFINISHED), None)
        if next_step:
            next_step.is_next = True
    object_url = reverse(OBJECT_URLS[run.object_type], args=[run.object_id]) if run.object_type in OBJECT_URLS else ""
    payments = []
    if run.object_type == "invoice":
        payments = list(PaymentAttempt.objects.filter(invoice__public_id=run.object_id).order_by("created", "id"))
    return Timeline(run=run, trigger=trigger, steps=rows, next_step=next_step, object_url=object_url, payments=payments)


@dataclass(frozen=True)
class DefinitionRows:
    filters: list[tuple[str, str]]  # (condition label, in words)
    steps: list[tuple[int, str, str, str, list[Parameter]]]  # (position, action label, in words, delay, settings)


def definition_rows(automation: Automation) -> DefinitionRows:
    """The current version's conditions and steps, one row each, for the detail page."""
    version = automation.current_version
    if version is None:
        return DefinitionRows([], [])
    trigger = TRIGGERS.get(automation.trigger)
    filters = []
    for item in version.filters:
        flt = FILTERS.get(item.get("type"))
        if flt is None:
            continue
        try:
            words = flt.describe(item.get("params") or {})
        except (KeyError, TypeError, ValueError, AttributeError):
            words = ""
        filters.append((flt.label, words))
    steps, policies = [], retry_policies_named(version.steps)
    for position, item in enumerate(version.steps, start=1):
        action = ACTIONS.get(item.get("action"))
        try:
            words = action.describe(item.get("params") or {}) if action else ""
        except (KeyError, TypeError, ValueError, AttributeError):
            words = ""
        delay = delay_words(trigger, item.get("delay"), position) if trigger else ""
        parameters = step_parameters(item.get("action"), item.get("params"), policies)
        steps.append((position, action.label if action else str(item.get("action")), words, delay, parameters))
    return DefinitionRows(filters, steps)


# --- What billing asks of automations ---------------------------------------------------------


def retry_policy_references() -> dict[str, set[str]]:
    """Retry policy name → names of the automations that start it (registered with billing).

    The "Set retry policy" action refers to a policy by name in its JSON parameters, so no
    foreign key protects it: look at the current definition of every automation that is not
    archived, and at the steps of runs in progress (which may use an older version). Two
    queries, whatever the number of automations.
    """
    references: dict[str, set[str]] = defaultdict(set)

    def add(params, automation: str) -> None:
        if not isinstance(params, dict):
            return
        name = params.get("policy")
        new = params.get("new_policy")
        if not name and isinstance(new, dict):
            name = new.get("name")
        if isinstance(name, str) and name:
            references[name].add(automation)

    definitions = Automation.objects.filter(archived_at__isnull=True, current_version__isnull=False)
    for automation, steps in definitions.values_list("name", "current_version__steps"):
        for step in steps if isinstance(steps, list) else []:
            if isinstance(step, dict) and step.get("action") == "set_retry_policy":
                add(step.get("params"), automation)
    waiting = RunStep.objects.filter(
        action="set_retry_policy", status__in=UNFINISHED, run__status=RunStatus.ACTIVE
    ).values_list("params", "run__automation__name")
    for params, automation in waiting:
        add(params, automation)
    return references
