"""Recovery analytics: what failed, what came back and by which automation, over a period.

What each figure counts (the period, failed, recovered, the rate, lost, and which run a recovery
is credited to) is written once, in the README's "Recovery analytics", which the page links to.

Every figure is aggregated in the database (GROUP BY currency, week and split key: a handful of
queries whatever the number of invoices); amounts are converted to the account's default currency
per group at the stored rates. A currency without a rate is left out of the amounts and counted as
not converted.
"""

from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db import connection, transaction
from django.db.models import (
    Case,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Least, TruncWeek
from django.utils import timezone
from djmoney.contrib.exchange.exceptions import MissingRate
from djmoney.contrib.exchange.models import get_rate

from automations.models import Automation, AutomationVersion, Run
from automations.triggers import TRIGGERS
from billing.models import AccountSettings, Invoice, PaymentAttempt
from billing.models.invoices import InvoiceStatus
from billing.models.payments import DeclineType, PaymentOutcome

PRESETS = (30, 90, 365)
DEFAULT_DAYS = 30
MAX_DAYS = 3660  # ten years: a longer period is refused (its weekly series would be unreadable)
CENTS = Decimal("0.01")
NO_AUTOMATION = "No automation"
NO_DECLINE_TYPE = "Not recorded"

# The moment an invoice got into trouble: its first failure or its overdue flag, the earlier one.
TROUBLE_AT = Least(Coalesce("first_failed_at", "overdue_at"), Coalesce("overdue_at", "first_failed_at"))
# The moment an invoice was given up: marked uncollectible (possibly voided later), or voided.
LOST_AT = Coalesce("marked_uncollectible_at", "voided_at")


class PeriodError(ValueError):
    """A period the page cannot show; the message says why."""


@dataclass(frozen=True)
class Period:
    first: date
    last: date  # included

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def start(self) -> datetime:
        return timezone.make_aware(datetime.combine(self.first, time.min))

    @property
    def end(self) -> datetime:
        """The first moment after the period."""
        return timezone.make_aware(datetime.combine(self.last + timedelta(days=1), time.min))

    def weeks(self) -> list[date]:
        """The Monday of every week the period touches."""
        monday = self.first - timedelta(days=self.first.weekday())
        return [monday + timedelta(weeks=n) for n in range((self.last - monday).days // 7 + 1)]


def last_days(days: int, today: date | None = None) -> Period:
    """The `days` days ending today (included)."""
    today = today or timezone.localdate()
    return Period(today - timedelta(days=days - 1), today)


def parse_period(params, today: date | None = None) -> Period:
    """The period of a query string: `from` and `to` (YYYY-MM-DD, both included), or `days` (a
    preset), or the last 30 days. Raises PeriodError with a message for the person."""
    first, last = params.get("from", "").strip(), params.get("to", "").strip()
    if not first and not last:
        days = params.get("days", "").strip() or str(DEFAULT_DAYS)
        if days not in {str(p) for p in PRESETS}:
            raise PeriodError(f"Choose a period of {', '.join(map(str, PRESETS))} days, or enter dates.")
        return last_days(int(days), today)
    if not first or not last:
        raise PeriodError("Enter both dates of the period: from and to.")
    period = Period(_parse_date(first, "from"), _parse_date(last, "to"))
    if period.last < period.first:
        raise PeriodError("The period's end (to) is before its start (from).")
    if period.days > MAX_DAYS:
        raise PeriodError(f"Choose a period of at most {MAX_DAYS} days.")
    return period


def _parse_date(value: str, name: str) -> date:
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise PeriodError(f"Enter the “{name}” date as YYYY-MM-DD, e.g. 2026-01-31.") from None
    if not date(2000, 1, 1) <= day <= date(9000, 12, 31):
        raise PeriodError(f"Enter a “{name}” date between 2000 and 9000.")
    return day


@dataclass
class Figure:
    """A number of invoices and their amount in the default currency; `not_converted` invoices
    (in a currency without a rate) are in the count but not in the amount."""

    count: int = 0
    amount: Decimal = Decimal(0)
    not_converted: int = 0

    @property
    def rounded(self) -> Decimal:
        return self.amount.quantize(CENTS, rounding=ROUND_HALF_UP)


class Converter:
    """Amounts of any currency to the default one at the stored rates, one rate read per currency."""

    def __init__(self, currency: str):
        self.currency = currency
        self.rates: dict[str, Decimal | None] = {}
        self.missing: set[str] = set()  # currencies without a rate, left out of the amounts

    def rate(self, currency: str) -> Decimal | None:
        if currency not in self.rates:
            try:
                self.rates[currency] = Decimal(get_rate(currency, self.currency))
            except MissingRate:
                self.rates[currency] = None
        return self.rates[currency]

    def add(self, figure: Figure, currency: str, count: int, amount: Decimal | None) -> None:
        figure.count += count
        rate = self.rate(currency)
        if rate is None:
            figure.not_converted += count
            self.missing.add(currency)
        else:
            figure.amount += (amount or Decimal(0)) * rate


@dataclass
class Week:
    start: date
    failed: Figure = field(default_factory=Figure)
    recovered: Figure = field(default_factory=Figure)
    lost: Figure = field(default_factory=Figure)


@dataclass
class SplitRow:
    label: str
    recovered: Figure = field(default_factory=Figure)
    failed: Figure = field(default_factory=Figure)
    automation: Automation | None = None
    version: int | None = None

    @property
    def rate(self) -> "Rate":
        return Rate.of(self.recovered, self.failed)


@dataclass(frozen=True)
class Rate:
    by_count: Decimal | None  # percent, one decimal; None when nothing failed
    by_amount: Decimal | None

    @classmethod
    def of(cls, part: Figure, whole: Figure) -> "Rate":
        def percent(a, b) -> Decimal | None:
            return (Decimal(100) * a / b).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP) if b else None

        return cls(percent(part.count, whole.count), percent(part.amount, whole.amount))


@dataclass
class Report:
    period: Period
    currency: str
    failed: Figure
    recovered: Figure
    failed_paid: Figure  # the failed invoices paid since: the rate's numerator
    lost: Figure
    median_days: Decimal | None
    by_automation: list[SplitRow]
    by_trigger: list[SplitRow]
    by_decline: list[SplitRow]
    weeks: list[Week]
    not_converted: list[str]  # the currencies without a rate

    @property
    def rate(self) -> Rate:
        return Rate.of(self.failed_paid, self.failed)


def _in(period: Period, expression) -> Q:
    return Q(**{f"{expression}__gte": period.start, f"{expression}__lt": period.end})


def failed_invoices(period: Period) -> QuerySet[Invoice]:
    return Invoice.objects.filter(_in(period, "first_failed_at"))


def recovered_invoices(period: Period) -> QuerySet[Invoice]:
    # The first Q repeats the partial index's condition (so the planner sees it applies).
    troubled = Q(first_failed_at__isnull=False) | Q(overdue_at__isnull=False)
    after_trouble = Q(first_failed_at__lte=F("paid_at")) | Q(overdue_at__lte=F("paid_at"))
    return Invoice.objects.filter(troubled, after_trouble, _in(period, "paid_at"), status=InvoiceStatus.PAID)


def lost_invoices(period: Period) -> QuerySet[Invoice]:
    return (
        Invoice.objects.filter(
            status__in=[InvoiceStatus.VOID, InvoiceStatus.UNCOLLECTIBLE], first_failed_at__isnull=False
        )
        .annotate(lost_at=LOST_AT)
        .filter(_in(period, "lost_at"), first_failed_at__lte=F("lost_at"))
    )


def recovering_run() -> QuerySet[Run]:
    """For an outer invoice query: the run active on the invoice when it was paid (the latest
    started of them), as a one-row subquery."""
    # Public ids carry their object's prefix (in_…, sub_…): one id list finds the runs of both.
    objects = [OuterRef("public_id"), OuterRef("subscription__public_id")]
    return (
        Run.objects.filter(object_id__in=objects, started_at__lte=OuterRef("paid_at"))
        .filter(Q(finished_at__isnull=True) | Q(finished_at__gte=OuterRef("paid_at")))
        .order_by("-started_at", "-id")
    )


def first_decline_type() -> QuerySet[PaymentAttempt]:
    return (
        PaymentAttempt.objects.filter(invoice=OuterRef("pk"), outcome=PaymentOutcome.FAILED)
        .order_by("created", "id")
        .values("decline_type")[:1]
    )


def _recovered_rows(period: Period, versions: list[int] | None = None) -> QuerySet:
    invoices = recovered_invoices(period).annotate(run_version=Subquery(recovering_run().values("version_id")[:1]))
    if versions is not None:
        invoices = invoices.filter(run_version__in=versions)
    return (
        invoices.annotate(week=TruncWeek("paid_at"))
        .values("run_version", "week", "total_currency")
        .annotate(n=Count("id"), amount=Sum("total"))
        .order_by()
    )


def median_days_to_recover(period: Period, count: int) -> Decimal | None:
    """The median over the `count` recovered invoices, read off the database's sort (two rows)."""
    if not count:
        return None
    waits = (
        recovered_invoices(period)
        .annotate(wait=ExpressionWrapper(F("paid_at") - TROUBLE_AT, output_field=DurationField()))
        .order_by("wait", "id")
        .values_list("wait", flat=True)
    )
    middle = list(waits[(count - 1) // 2 : count // 2 + 1])
    days = sum(w.total_seconds() for w in middle) / len(middle) / 86400
    return Decimal(str(days)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def _versions(ids) -> dict[int, AutomationVersion]:
    return {v.pk: v for v in AutomationVersion.objects.filter(pk__in=ids).select_related("automation")}


@contextmanager
def _planned_for_reports():
    """Two PostgreSQL settings for this transaction only, measured at 1,000,000 invoices:
    no JIT (a year's aggregate crosses `jit_above_cost`, and compiling took 0.4-0.5 s per query,
    ten times the query), and 32 MB of work memory so that grouping tens of thousands of invoices
    hashes instead of sorting them by text keys (91 → 71 ms for a year's failures)."""
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")
            cursor.execute("SET LOCAL work_mem = '32MB'")
        yield


def recovery_report(period: Period) -> Report:
    """Every figure of the analytics page for a period.

    1. Failed invoices grouped by week of first failure, currency, decline type of the first
       failed attempt and paid-or-not: the failed volume, the rate and the decline split.
    2. Recovered invoices grouped by the version of the run active when paid, week and currency:
       the recovered amount, the automation, version and trigger splits.
    3. Lost invoices grouped by week and currency.
    4. The median days to recover, from the database's sort.
    """
    with _planned_for_reports():
        return _recovery_report(period)


def _recovery_report(period: Period) -> Report:
    currency = AccountSettings.load().default_currency
    money = Converter(currency)
    weeks = {monday: Week(monday) for monday in period.weeks()}
    failed, failed_paid, recovered, lost = Figure(), Figure(), Figure(), Figure()

    def week(moment) -> Week:
        monday = timezone.localtime(moment).date() if isinstance(moment, datetime) else moment
        return weeks.setdefault(monday, Week(monday))

    declines: dict[str, SplitRow] = {}
    failed_rows = (
        failed_invoices(period)
        .annotate(
            decline=Coalesce(Subquery(first_decline_type()), Value("")),
            week=TruncWeek("first_failed_at"),
            paid=Case(When(status=InvoiceStatus.PAID, then=Value(1)), default=Value(0)),
        )
        .values("decline", "week", "total_currency", "paid")
        .annotate(n=Count("id"), amount=Sum("total"))
        .order_by()
    )
    for row in failed_rows:
        code, amount, n = row["total_currency"], row["amount"], row["n"]
        decline = declines.setdefault(row["decline"], SplitRow(_decline_label(row["decline"])))
        for figure in (failed, decline.failed, week(row["week"]).failed):
            money.add(figure, code, n, amount)
        if row["paid"]:
            for figure in (failed_paid, decline.recovered):
                money.add(figure, code, n, amount)

    by_version: dict[int | None, Figure] = defaultdict(Figure)
    for row in _recovered_rows(period):
        code, amount, n = row["total_currency"], row["amount"], row["n"]
        money.add(recovered, code, n, amount)
        money.add(week(row["week"]).recovered, code, n, amount)
        money.add(by_version[row["run_version"]], code, n, amount)

    for row in (
        lost_invoices(period)
        .annotate(week=TruncWeek("lost_at"))
        .values("week", "total_currency")
        .annotate(n=Count("id"), amount=Sum("total"))
        .order_by()
    ):
        money.add(lost, row["total_currency"], row["n"], row["amount"])
        money.add(week(row["week"]).lost, row["total_currency"], row["n"], row["amount"])

    by_automation, by_trigger = _automation_splits(by_version)
    return Report(
        period=period,
        currency=currency,
        failed=failed,
        recovered=recovered,
        failed_paid=failed_paid,
        lost=lost,
        median_days=median_days_to_recover(period, recovered.count),
        by_automation=by_automation,
        by_trigger=by_trigger,
        by_decline=sorted(declines.values(), key=lambda r: (r.label == NO_DECLINE_TYPE, r.label)),
        weeks=[weeks[m] for m in sorted(weeks)],
        not_converted=sorted(money.missing),
    )


def _decline_label(code: str) -> str:
    return DeclineType(code).label if code in DeclineType.values else NO_DECLINE_TYPE


def _automation_splits(by_version: dict[int | None, Figure]) -> tuple[list[SplitRow], list[SplitRow]]:
    """Rows by automation and version (largest amount first, "No automation" last) and by trigger."""
    versions = _versions([pk for pk in by_version if pk is not None])
    rows, triggers = [], {}
    for pk, figure in by_version.items():
        version = versions.get(pk)
        if version is None:
            continue
        auto = version.automation
        rows.append(SplitRow(f"{auto.name} v{version.number}", figure, automation=auto, version=version.number))
        trigger = TRIGGERS.get(auto.trigger)
        label = trigger.label if trigger else auto.trigger
        _merge(triggers.setdefault(label, SplitRow(label)).recovered, figure)
    rows.sort(key=lambda r: (-r.recovered.amount, -r.recovered.count, r.label))
    trigger_rows = sorted(triggers.values(), key=lambda r: (-r.recovered.amount, -r.recovered.count, r.label))
    none = by_version.get(None)
    if none is not None:
        rows.append(SplitRow(NO_AUTOMATION, none))
        trigger_rows.append(SplitRow(NO_AUTOMATION, none))
    return rows, trigger_rows


def _merge(into: Figure, figure: Figure) -> None:
    into.count += figure.count
    into.amount += figure.amount
    into.not_converted += figure.not_converted


@dataclass
class AutomationRecovery:
    period: Period
    currency: str
    total: Figure
    by_version: list[SplitRow]
    not_converted: list[str]  # the currencies without a rate


def automation_recovery(automation: Automation, period: Period) -> AutomationRecovery:
    """The automation page's panel: what its runs recovered in the period, by version (the same
    attribution as the analytics page, restricted to this automation's versions)."""
    # A month of one automation stays small: none of the report's settings (and their queries).
    currency = AccountSettings.load().default_currency
    money = Converter(currency)
    versions = {v.pk: v for v in AutomationVersion.objects.filter(automation=automation)}
    total, by_version = Figure(), defaultdict(Figure)
    for row in _recovered_rows(period, versions=list(versions)):
        money.add(total, row["total_currency"], row["n"], row["amount"])
        money.add(by_version[row["run_version"]], row["total_currency"], row["n"], row["amount"])
    rows = [
        SplitRow(f"v{versions[pk].number}", figure, automation=automation, version=versions[pk].number)
        for pk, figure in sorted(by_version.items(), key=lambda item: -versions[item[0]].number)
    ]
    return AutomationRecovery(period, currency, total, rows, sorted(money.missing))
