"""Backtest: replay the recorded billing events of a window through the engine's matching, as if
an automation (saved, or the builder's draft) had been in its place among the enabled
automations of its trigger. Reads only: nothing is written to billing, runs or matching records.

1. Line up the automations checked before the candidate: the enabled automations of its trigger
   in priority order, the candidate taken out and put back at its place (a saved automation's
   own place, a draft's chosen place, or last: new automations go last).
2. Read the window's events of the trigger's object kind once, in event order, in chunks
   (`values_list`, no model instances); per chunk, read what the filters need beyond the
   snapshot in one query each: the customers' metadata and the subscriptions' intervals at
   the time (from their own recorded events, else as they are now), the first failed payment
   of each invoice.
3. For each event, first what it does to the runs the candidate would have started before it
   (`event_effects.ends` / `moves`, judged on the recorded state: the moment a run's end
   condition first held, and the anchor dates that moved), then what it starts
   (`event_effects.starts`): the higher automations are checked on the event's snapshot
   (`check_automation`, as the engine would), then the candidate; a match whose end condition
   already held when the event was recorded starts nothing.
4. Each run's steps are timed as the engine times them (`scheduling`): an anchored step whose
   time had passed when the run started is skipped; a step at or after the moment its run ended
   never runs; a step after the end of the window is still to come.

What the automation's own actions would have changed (a voided invoice, a retry policy that
holds the run until it is exhausted) is not replayed: the history is what happened without it.
"""

import json
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from itertools import batched
from types import SimpleNamespace

from django.db.models import Min, TextField
from django.db.models.functions import Cast
from djmoney.money import Money
from moneyed import get_currency

from automations.engine import event_effects
from automations.engine.accounts import default_currency
from automations.engine.actions import ACTIONS
from automations.engine.end_conditions import State, ending
from automations.engine.filters import rates_memo
from automations.engine.matching import check_automation
from automations.engine.scheduling import anchored_times, relative_times
from automations.triggers import PAYMENT_FAILED, TRIGGERS
from billing.models import Customer, Event, SubscriptionItem

CHUNK = 5000  # events read per query (and per progress report)
OBJECTS_KEPT = 200  # object ids kept behind each figure


@dataclass(frozen=True)
class Version:
    number: int
    filters: list[dict]
    steps: list[dict]


@dataclass(frozen=True)
class Candidate:
    """The automation under test, as `check_automation` reads an automation: a saved one
    (`of_automation`) or a draft (public_id "", version 0)."""

    name: str
    trigger: str
    current_version: Version
    public_id: str = ""

    @classmethod
    def of_automation(cls, automation) -> "Candidate":
        version = automation.current_version
        return cls(automation.name, automation.trigger, Version(version.number, version.filters, version.steps),
                   automation.public_id)  # fmt: skip

    @classmethod
    def draft(cls, *, name: str, trigger: str, filters: list[dict], steps: list[dict]) -> "Candidate":
        return cls(name or "This draft", trigger, Version(0, filters, steps))


def place_in(candidate: Candidate, in_order: list, *, place_before: str | None = None, priority=None) -> list:
    """The automations checked before the candidate (step 1). `in_order`: the enabled automations
    of its trigger in priority order (the candidate among them or not). `place_before`: the public
    id of the automation it goes just above ("" or an unknown id: last); else a saved
    automation's `priority` (a pair (priority, id)) places it; with neither it goes last."""
    others = [a for a in in_order if not candidate.public_id or a.public_id != candidate.public_id]
    ids = [a.public_id for a in others]
    if place_before is not None:
        return others[: ids.index(place_before)] if place_before in ids else others
    if priority is not None:
        return [a for a in others if (a.priority, a.pk) < priority]
    return others


# -- The snapshot adapter ---------------------------------------------------------------------


class _Rows(list):
    """Rows read like a prefetched related manager (`obj.lines.all()`)."""

    def all(self):
        return self


def _product(public_id: str | None):
    return SimpleNamespace(product_id=public_id, product=SimpleNamespace(public_id=public_id))


class Snapshot:
    """A billing object as an event recorded it (Stripe's JSON shape), read by the filters as they
    read a model instance: `_meta.model_name`, `customer.metadata`, `metadata`, `total`,
    `subscription.interval` / `interval`, an invoice's `last_payment_error`, and its lines' or
    items' products (product public ids are in the snapshot itself: nothing to resolve)."""

    def __init__(self, kind: str, data: dict, *, customer_metadata: dict, interval: str | None = None):
        self._meta = SimpleNamespace(model_name=kind)
        self._data = data
        self.public_id = data.get("id", "")
        self.metadata = data.get("metadata") or {}
        self.customer = SimpleNamespace(metadata=customer_metadata)
        if kind == "subscription":
            self.interval = _interval(data)
            self.subscription = self
        else:
            has = kind == "invoice" and data.get("subscription")
            self.subscription = SimpleNamespace(interval=interval) if has else None
        self._prefetched_objects_cache = {"lines": None, "items": None}  # the filters read `lines` / `items`
        if kind == "invoice":
            # The failed attempt the event recorded (decline type and failure code filters); an
            # event recorded before snapshots carried it has none, and those filters do not match.
            self.last_payment_error = data.get("last_payment_error")

    @property
    def total(self) -> Money:
        currency = get_currency((self._data.get("currency") or "eur").upper())
        minor = self._data.get("total", self._data.get("amount_total")) or 0
        return Money(Decimal(minor) / (currency.sub_unit or 1), currency)

    @property
    def lines(self) -> _Rows:
        key = "line_items" if self._meta.model_name == "quote" else "lines"
        return _Rows(_product(line.get("product")) for line in _listed(self._data, key))

    @property
    def items(self) -> _Rows:
        return _Rows(
            SimpleNamespace(price=SimpleNamespace(product=SimpleNamespace(public_id=(i.get("price") or {}).get("product"))))
            for i in _listed(self._data, "items")
        )  # fmt: skip


def _listed(data: dict, key: str) -> list[dict]:
    return (data.get(key) or {}).get("data") or []


def _interval(subscription: dict) -> str | None:
    """A subscription snapshot's interval: its first item's price's (as Subscription.interval)."""
    items = _listed(subscription, "items")
    recurring = (items[0].get("price") or {}).get("recurring") if items else None
    return (recurring or {}).get("interval")


class _Timeline:
    """A value of each object over time, from the object's recorded events (`path`: where the
    value is in their snapshots, read alone): `at` answers the last one recorded at or before a
    moment, or the first one recorded (the object existed before its first event in the window);
    an object without recorded events has its value now (`current`)."""

    def __init__(self, object_type: str, path: str, current: Callable[[list[str]], dict]):
        self.object_type, self.path, self.current = object_type, path, current
        self.times: dict[str, list[datetime]] = {}
        self.values: dict[str, list] = {}
        self.now: dict[str, object] = {}
        self.read: set[str] = set()

    def load(self, ids: Iterable[str]) -> None:
        """Read the objects not read yet: their events in one query, the current value of those
        without events in another."""
        new = sorted({i for i in ids if i and i not in self.read})
        if not new:
            return
        self.read.update(new)
        rows = (
            Event.objects.filter(object_type=self.object_type, object_id__in=new, test_clock__isnull=True)
            .order_by("created", "pk")
            .values_list("object_id", "created", f"data_object__{self.path}")
        )
        for object_id, created, value in rows:
            self.times.setdefault(object_id, []).append(created)
            self.values.setdefault(object_id, []).append(value)
        if unrecorded := [i for i in new if i not in self.times]:
            self.now |= self.current(unrecorded)

    def at(self, object_id: str, moment: datetime):
        if times := self.times.get(object_id):
            return self.values[object_id][max(0, bisect_right(times, moment) - 1)]
        return self.now.get(object_id)


def _customer_metadata(ids: list[str]) -> dict:
    return dict(Customer.objects.filter(public_id__in=ids).values_list("public_id", "metadata"))


def _subscription_intervals(ids: list[str]) -> dict:
    found: dict = {}
    items = SubscriptionItem.objects.filter(subscription__public_id__in=ids).order_by("subscription_id", "id")
    for public_id, interval in items.values_list("subscription__public_id", "price__interval"):
        found.setdefault(public_id, interval)
    return found


# -- The result -------------------------------------------------------------------------------


@dataclass
class Figure:
    """A count and the objects behind it (the first OBJECTS_KEPT, each once)."""

    count: int = 0
    objects: dict[str, None] = field(default_factory=dict)

    def add(self, object_id: str) -> None:
        self.count += 1
        if len(self.objects) < OBJECTS_KEPT:
            self.objects.setdefault(object_id)

    def as_json(self) -> dict:
        return {"count": self.count, "objects": list(self.objects)}


@dataclass
class _Run:
    """A run the candidate would have started (its steps' times; skipped: time already past)."""

    event_id: int
    object_id: str
    anchor_at: datetime | None
    times: list[datetime]
    skipped: list[bool]
    ended_at: datetime | None = None
    reason: str = ""

    def done_before(self, moment: datetime) -> bool:
        """Every step that runs has run before `moment`: the run had completed."""
        return all(s or t < moment for t, s in zip(self.times, self.skipped, strict=True))


@dataclass
class Outcome:
    events: int = 0  # the window's events of the trigger's object kind, read
    opportunities: Figure = field(default_factory=Figure)  # events that start the trigger
    started: Figure = field(default_factory=Figure)
    taken: dict[str, Figure] = field(default_factory=dict)  # by the higher automation's public id
    not_matched: Figure = field(default_factory=Figure)
    failed_filters: dict[str, Figure] = field(default_factory=dict)  # the first filter that did not match
    already_ended: Figure = field(default_factory=Figure)  # matched, but its end condition already held
    ended_early: Figure = field(default_factory=Figure)
    end_reasons: dict[str, Figure] = field(default_factory=dict)
    completed: Figure = field(default_factory=Figure)
    in_progress: Figure = field(default_factory=Figure)  # steps still to come at the end of the window
    actions: dict[str, dict[str, Figure]] = field(default_factory=dict)  # step position → ran/canceled/…


STEP_OUTCOMES = ("ran", "canceled", "skipped", "pending")


def backtest(
    candidate: Candidate,
    higher: list,
    *,
    since: datetime,
    until: datetime,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Replay the events recorded from `since` to `until` (live ones: not on a test clock) with
    `higher` (the automations checked before the candidate, `place_in`) and return the figures
    as JSON (see `_result`). `progress(done, total)` hears of each chunk."""
    trigger = TRIGGERS[candidate.trigger]
    lineup = [*higher, candidate]
    used = {f["type"] for a in lineup for f in a.current_version.filters}
    currency = default_currency() if "invoice_amount" in used else None
    customers = _Timeline("customer", "metadata", _customer_metadata)
    intervals = _Timeline("subscription", "items__data__0__price__recurring__interval", _subscription_intervals)
    steps = candidate.current_version.steps
    outcome = Outcome()
    outcome.actions = {str(i): {k: Figure() for k in STEP_OUTCOMES} for i in range(len(steps))}
    open_runs: dict[str, list[_Run]] = {}
    runs: list[_Run] = []

    events = replayed_events(trigger.key, since, until)
    total = events.count()
    rows = (
        events.order_by("pk")
        .annotate(data=Cast("data_object", TextField()), previous=Cast("previous_attributes", TextField()))
        .values_list("pk", "type", "created", "object_type", "object_id", "customer_id", "data", "previous")
    )
    done = 0
    with rates_memo():
        for chunk in batched(rows.iterator(chunk_size=CHUNK), CHUNK):
            recorded = [Recorded.of(row) for row in chunk]
            first_failures = _first_failures(recorded) if trigger.key == PAYMENT_FAILED else {}
            if "customer_metadata" in used:
                customers.load(r.customer_id or r.data_object.get("customer") for r in recorded)
            if "subscription_interval" in used and trigger.object_type == "invoice":
                # A failed payment is the only invoice event that starts a trigger this filter is for.
                failed = (r for r in recorded if r.type == "invoice.payment_failed")
                intervals.load(r.data_object.get("subscription") for r in failed)
            for event in recorded:
                if event.object_id in open_runs:
                    _ends_and_moves(event, trigger.key, open_runs, outcome)
                for start in _starts(event, first_failures):
                    if start.trigger != trigger.key:
                        continue
                    run = _match(event, start, candidate, higher, outcome, currency=currency,
                                 customers=customers, intervals=intervals)  # fmt: skip
                    if run is not None:
                        runs.append(run)
                        open_runs.setdefault(event.object_id, []).append(run)
            done += len(chunk)
            outcome.events = done
            if progress is not None:
                progress(done, total)
    _tally(runs, steps, until, outcome)
    return _result(outcome, candidate, higher, steps, since=since, until=until)


def replayed_events(trigger: str, since: datetime, until: datetime):
    """The events a backtest replays: the live ones (not on a test clock) of the trigger's object
    kind, from `since` to `until`."""
    return Event.objects.filter(
        object_type=TRIGGERS[trigger].object_type, created__gte=since, created__lte=until, test_clock__isnull=True
    )


class Document(Mapping):
    """An event's JSON document, decoded when first read: most events of a long history are only
    looked at by their type and object (decoding every snapshot was a third of the time)."""

    __slots__ = ("_raw", "_data")

    def __init__(self, raw: str):
        self._raw, self._data = raw, None

    def _decoded(self) -> dict:
        if self._data is None:
            self._data = json.loads(self._raw)
        return self._data

    def __getitem__(self, key):
        return self._decoded()[key]

    def get(self, key, default=None):
        return self._decoded().get(key, default)

    def __iter__(self):
        return iter(self._decoded())

    def __len__(self) -> int:
        return len(self._decoded())


@dataclass(slots=True)
class Recorded:
    """An event as read from its row (`values_list`), with the attributes `event_effects` reads."""

    pk: int
    type: str
    created: datetime
    object_type: str
    object_id: str
    customer_id: str
    data_object: Document
    previous_attributes: Document | None

    @classmethod
    def of(cls, row: tuple) -> "Recorded":
        *fields, data, previous = row
        return cls(*fields, Document(data), None if previous is None else Document(previous))


def _first_failures(recorded: list[Recorded]) -> dict[str, int]:
    """The first `invoice.payment_failed` of each invoice of the chunk that has one (one query)."""
    ids = {r.object_id for r in recorded if r.type == "invoice.payment_failed"}
    if not ids:
        return {}
    rows = Event.objects.filter(type="invoice.payment_failed", object_id__in=ids).values("object_id")
    return {row["object_id"]: row["first"] for row in rows.annotate(first=Min("pk")).order_by()}


def _starts(event: Recorded, first_failures: dict[str, int]) -> list[event_effects.Start]:
    if event.type == "invoice.payment_failed":
        # As event_effects.starts, which reads the earlier failures per event: here one query per chunk.
        first = first_failures.get(event.object_id) == event.pk
        return [event_effects.Start(PAYMENT_FAILED)] if first and event.data_object.get("subscription") else []
    return event_effects.starts(event)


def _match(event, start, candidate, higher, outcome: Outcome, *, currency, customers, intervals) -> _Run | None:
    """Step 3's start: who takes the event, and the candidate's run if it is the one."""
    data = event.data_object
    outcome.opportunities.add(event.object_id)
    obj = Snapshot(
        event.object_type, data,
        customer_metadata=customers.at(event.customer_id or data.get("customer", ""), event.created) or {},
        interval=intervals.at(data.get("subscription") or "", event.created) if event.object_type == "invoice" else None,
    )  # fmt: skip
    for automation in higher:
        if check_automation(automation, obj, currency=currency)["matched"]:
            outcome.taken.setdefault(automation.public_id, Figure()).add(event.object_id)
            return None
    record = check_automation(candidate, obj, currency=currency)
    if not record["matched"]:
        outcome.not_matched.add(event.object_id)
        outcome.failed_filters.setdefault(record["filter"], Figure()).add(event.object_id)
        return None
    anchor = start.anchor
    if ending(start.trigger, State.recorded(data), at=event.created, anchor=anchor) is not None:
        outcome.already_ended.add(event.object_id)
        return None
    anchored = TRIGGERS[start.trigger].is_anchored
    delays = [step["delay"] for step in candidate.current_version.steps]
    times = anchored_times(anchor, delays) if anchored else relative_times(event.created, delays)
    skipped = [anchored and moment < event.created for moment in times]
    outcome.started.add(event.object_id)
    return _Run(event.pk, event.object_id, anchor, times, skipped)


def _ends_and_moves(event: Recorded, trigger: str, open_runs: dict[str, list[_Run]], outcome: Outcome) -> None:
    """Step 3's first half: the runs on the event's object that it ends, and the anchors it moves."""
    runs = [run for run in open_runs[event.object_id] if not run.done_before(event.created)]
    for end in event_effects.ends(event):
        if end.trigger != trigger:
            continue
        for run in runs:
            if run.ended_at is None and (reason := end.reason_for(run)):
                run.ended_at, run.reason = event.created, reason
    for move in event_effects.moves(event):
        if move.trigger != trigger:
            continue
        for run in runs:
            if run.ended_at is None and run.anchor_at != move.anchor:
                _move(run, move.anchor, event.created)
    runs = [run for run in runs if run.ended_at is None]
    if runs:
        open_runs[event.object_id] = runs
    else:
        del open_runs[event.object_id]


def _move(run: _Run, anchor: datetime, moment: datetime) -> None:
    """The steps still pending at `moment` follow the new anchor (as runs.move_anchor): each keeps
    its offset from the anchor; one whose new time has passed is skipped."""
    if run.anchor_at is None:
        return
    shift, run.anchor_at = anchor - run.anchor_at, anchor
    for i, (time, skipped) in enumerate(zip(run.times, run.skipped, strict=True)):
        if not skipped and time >= moment:
            run.times[i] = time + shift
            run.skipped[i] = run.times[i] < moment


def _tally(runs: list[_Run], steps: list[dict], until: datetime, outcome: Outcome) -> None:
    """Step 4: each run's outcome and each step's."""
    for run in runs:
        canceled = False
        for position, (moment, skipped) in enumerate(zip(run.times, run.skipped, strict=True)):
            figures = outcome.actions[str(position)]
            if skipped:
                figures["skipped"].add(run.object_id)
            elif run.ended_at is not None and moment >= run.ended_at:
                figures["canceled"].add(run.object_id)
                canceled = True
            elif moment > until:
                figures["pending"].add(run.object_id)
            else:
                figures["ran"].add(run.object_id)
        if canceled:
            outcome.ended_early.add(run.object_id)
            outcome.end_reasons.setdefault(run.reason, Figure()).add(run.object_id)
        elif any(not s and t > until for t, s in zip(run.times, run.skipped, strict=True)):
            outcome.in_progress.add(run.object_id)
        else:
            outcome.completed.add(run.object_id)


def _result(outcome: Outcome, candidate: Candidate, higher: list, steps: list[dict], *, since, until) -> dict:
    names = {a.public_id: a.name for a in higher}
    return {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "object_type": TRIGGERS[candidate.trigger].object_type,
        "events": outcome.events,
        "place": len(higher) + 1,
        "higher": [{"automation": a.public_id, "name": a.name} for a in higher],
        "opportunities": outcome.opportunities.as_json(),
        "started": outcome.started.as_json(),
        "taken": [
            {"automation": key, "name": names[key]} | figure.as_json()
            for key, figure in sorted(outcome.taken.items(), key=lambda kv: list(names).index(kv[0]))
        ],
        "not_matched": outcome.not_matched.as_json(),
        "failed_filters": [{"filter": label} | f.as_json() for label, f in sorted(outcome.failed_filters.items())],
        "already_ended": outcome.already_ended.as_json(),
        "ended_early": outcome.ended_early.as_json(),
        "end_reasons": [{"reason": reason} | f.as_json() for reason, f in sorted(outcome.end_reasons.items())],
        "completed": outcome.completed.as_json(),
        "in_progress": outcome.in_progress.as_json(),
        "steps": [
            {
                "position": position + 1,
                "action": step["action"],
                "label": ACTIONS[step["action"]].label if step["action"] in ACTIONS else step["action"],
            }
            | {kind: figure.as_json() for kind, figure in outcome.actions[str(position)].items()}
            for position, step in enumerate(steps)
        ],
    }
