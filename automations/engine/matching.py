"""Which automation an event starts: enabled automations of the trigger in priority order, the
first whose filters all match. Every check is kept for the event's matching record."""

from contextlib import suppress

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


class Matcher:
    """`first_match` for many objects of one trigger (the batch path), with the same result: the
    checks are made as `check_automation` makes them, but once per distinct set of values the
    filters read (`Filter.read`): objects that read the same share one record of the checks.
    Automations with a filter that reads more than plain values (products, payment errors) are
    checked for each object. For one batch: the automations, currency and rates must not change
    meanwhile."""

    def __init__(self, automations: list[Automation], *, currency: str | None):
        self.automations, self.currency = automations, currency
        self.readers: dict = {}  # read key -> (filter, params)
        self.reads: list[list | None] = []  # per automation: its filters' read keys (None: not plain)
        for automation in automations:
            keys = []
            for definition in automation.current_version.filters:
                f = FILTERS[definition["type"]]
                if not f.reads_plainly:
                    keys = None
                    break
                key = f.read_key(definition["params"])
                self.readers.setdefault(key, (f, definition["params"]))
                keys.append(key)
            self.reads.append(keys)
        self.plain = all(keys is not None for keys in self.reads)
        self.results: dict = {}  # what every filter reads -> (automation, checks)
        self.records: dict = {}  # (automation's index, what its filters read) -> its check

    def match(self, obj) -> tuple[Automation | None, list[dict]]:
        """The automation that wins for `obj` (or None) and the checks made, in order."""
        try:
            values = {key: f.read(obj, params) for key, (f, params) in self.readers.items()}
            memo = tuple(values.values()) if self.plain else None
            if memo is not None and (found := self.results.get(memo)) is not None:
                return found
        except Exception:  # noqa: BLE001 (the checks themselves say what is wrong, as one by one)
            values, memo = None, None
        checks, winner = [], None
        for index, automation in enumerate(self.automations):
            record = self._check(index, automation, obj, values)
            checks.append(record)
            if record["matched"]:
                winner = automation
                break
        if memo is not None:
            with suppress(TypeError):  # a value that cannot be a key (a list in metadata)
                self.results[memo] = (winner, checks)
        return winner, checks

    def _check(self, index: int, automation: Automation, obj, values: dict | None) -> dict:
        keys = self.reads[index]
        if values is None or keys is None:
            return check_automation(automation, obj, currency=self.currency)
        memo = (index, *(values[key] for key in keys))
        try:
            record = self.records.get(memo)
        except TypeError:
            return check_automation(automation, obj, currency=self.currency)
        if record is None:
            record = self.records[memo] = check_automation(automation, obj, currency=self.currency)
        return record
