"""Demo data for a local Relance: a billing history of the last months, built by living through it.

The demo simulates time. Each customer signs up, changes a card, pays a transfer or asks for a
cancellation at a moment of its own (seeded-random business hours over the past months, up to a
year and a half for the oldest yearly contracts), and every such action runs inside
`clock.travel(moment)`, through the services, so objects and events carry their real past
timestamps. Between actions the simulation wakes at each moment the worker would find work
(a period ends, a retry or a due date comes, a pause starts or ends, a quote or a scheduled
cancellation falls due) and runs the periodic jobs (`billing.jobs.JOBS`, in order) there: renewals,
payment retries, overdue detection, scheduled cancellations, pauses and quote expiry are the jobs'
own doing, at their true times. The last step is now, so what is still to come (retries, expiries,
scheduled cancellations and pauses) lies in the future.

The four reference automations (and a lower-priority alert for monthly payment failures) are set
up by the demo editor at the start of the history, and the automation engine lives through it too:
at each moment, after the jobs, every billing event recorded since the last moment is handled, the
steps that are due run, and the emails they queue are sent (to an in-memory outbox: the history's
emails are recorded, not delivered). Runs therefore start, wait, act and end at their historical
times, and every event of the demo is handled once, so the worker has nothing to catch up.

Last, a test clock ("Rehearsal: annual dunning") is frozen at now with one customer on it, on a
yearly plan with a card that declines: its events are handled at the clock's time, so the annual
dunning automation's run waits on the clock, to be advanced from the clock's page.

The data is the same on every run (one `random.Random(42)` draws the whole plan before the
simulation starts), apart from the public ids and dates, which are relative to now.
`seed_demo()` builds it once: a database that already holds demo customers (metadata
`demo: "1"`) is left as it is, only the demo logins are ensured.
"""

import heapq
import itertools
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import Permission, User
from django.db import transaction
from django.db.models import Count, Max, Min, Q
from django.test.utils import override_settings
from django.utils import timezone
from moneyed import Money

from automations.engine.clockwork import next_step_due, run_due
from automations.models import Automation, AutomationVersion, Run
from automations.receivers import receivers_paused
from automations.services.definitions import automation_create
from billing import clock
from billing.exchange import RATES_PER_EUR, seed_rates
from billing.models import (
    AccountSettings,
    CollectionMethod,
    Customer,
    EndBehavior,
    Event,
    Interval,
    Invoice,
    InvoiceStatus,
    PauseBehavior,
    Price,
    Product,
    Quote,
    QuoteStatus,
    RetryPolicy,
    ScheduleKind,
    Subscription,
    SubscriptionStatus,
    TestClock,
)
from billing.services import (
    LineItem,
    customer_create,
    customer_update,
    invoice_attempt_payment,
    invoice_create,
    invoice_finalize,
    invoice_mark_paid,
    invoice_mark_uncollectible,
    invoice_update,
    invoice_void,
    quote_accept,
    quote_cancel,
    quote_create,
    quote_finalize,
    subscription_create,
    subscription_pause_collection,
    subscription_schedule_cancel,
)
from billing.services.subscriptions import add_interval
from billing.services.test_clocks import clock_create
from frame.permissions import EDITORS, VIEWERS
from notifications.email import send_due
from notifications.models import EmailStatus, OutboundEmail
from ops.users import ROLES, user_set_role

DEMO_URL = "http://127.0.0.1:8000/"
DEMO_MARKER = ("demo", "1")  # customer metadata key and value that tag the demo dataset
CUSTOMER_COUNT = 60
TEAM_DOMAIN = "relance.example"

GOOD_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"
INSUFFICIENT_FUNDS_CARD = "4000000000009995"
EXPIRED_CARD = "4000000000000069"
FAILS_ONCE_CARD = "4000000000000341"

# Apps whose models the demo editor may manage in the Django admin (those installed).
EDITOR_ADMIN_APPS = ("billing", "exchange", "automations", "notifications")

# Monthly amounts per currency; a yearly price is ten months (two months free).
# Other currencies are converted from EUR at the fixed demo rates.
CATALOG = {
    "starter": ("Starter", "For freelancers and small teams.", {"EUR": 29, "USD": 32, "GBP": 25}),
    "pro": ("Pro", "Automations, reminders and reports for growing teams.", {"EUR": 79, "USD": 86, "GBP": 68}),
    "business": ("Business", "Advanced recovery, SSO and priority routing.", {"EUR": 199, "USD": 219, "GBP": 169}),
    "seats": ("Additional seats", "One more team member, per seat.", {"EUR": 12, "USD": 13, "GBP": 10}),
    "support": ("Priority support", "Four-hour response time, named contact.", {"EUR": 49, "USD": 54, "GBP": 42}),
}
ONE_OFF = {"onboarding": ("Onboarding", "Setup and training, one-off.", {"EUR": 490, "USD": 540, "GBP": 420})}

COMPANIES = [
    "Northwind Traders", "Bluebird Analytics", "Copperleaf Studio", "Harborview Logistics", "Lumen Health",
    "Pinecrest Legal", "Quarry Labs", "Redwood Robotics", "Saffron Kitchens", "Tidewater Energy",
    "Upland Outfitters", "Vantage Dental", "Willow & Finch", "Zephyr Travel", "Alder Architecture",
    "Brightline Media", "Cobalt Security", "Driftwood Hotels", "Elmstreet Bakery", "Fjord Software",
    "Granite Insurance", "Helios Solar", "Ironbark Construction", "Juniper Schools", "Kestrel Aviation",
    "Lighthouse Learning", "Meridian Finance", "Nimbus Cloudworks", "Oakridge Vets", "Paperplane Print",
    "Quillon Publishing", "Riverstone Clinics", "Silverline Fitness", "Trellis Gardens", "Umbra Games",
    "Verdant Foods", "Wavecrest Surf Co.", "Yarrow Wellness", "Atlas Freight", "Beacon Realty",
    "Cedar & Stone", "Delta Optics", "Ember Coffee Roasters", "Foxglove Florists", "Glasshouse Design",
    "Highland Dairy", "Indigo Textiles", "Jetstream Couriers", "Keystone Accounting", "Larkspur Events",
    "Mosaic Marketing", "Northstar Robotics", "Orchard Pediatrics", "Pebble Audio", "Quartz Data",
    "Rosewood Interiors", "Summit Outdoor", "Tandem Bikes", "Velvet Cinema", "Windmill Brewing",
]  # fmt: skip
FIRST_NAMES = [
    "anna", "lukas", "sofia", "mateo", "claire", "jonas", "priya", "omar", "emma", "noah", "lea", "david",
    "maria", "tom", "ines", "samuel", "julia", "ravi", "nora", "felix", "hannah", "lucas", "amelie", "oliver",
]  # fmt: skip
LAST_NAMES = [
    "keller", "martin", "garcia", "weber", "dubois", "shah", "rossi", "novak", "schmidt", "moreau", "jensen",
    "smith", "brown", "lopez", "fischer", "bernard", "evans", "kowalski", "silva", "meyer", "taylor", "wright",
]  # fmt: skip
ACCOUNT_MANAGERS = ["Camille Laurent", "Jonas Brandt", "Priya Raman"]
REGIONS = {"EUR": "eu", "USD": "na", "GBP": "uk", "CHF": "eu", "CAD": "na", "JPY": "apac"}


# The customers with a story to tell; everyone else is a healthy subscriber.
STORIES = [
    "overdue_monthly",
    "overdue_yearly",
    "overdue_two_invoices",
    "declined",
    "insufficient_funds",
    "expired_card",
    "fails_once_pending",
    "fails_once_recovered",
    "card_updated",
    "unpaid",
    "canceled_payment_failed",
    "canceled",
    "cancel_at_period_end",
    "cancel_at_period_end_yearly",
    "cancel_at_date",
    "paused",
    "pause_scheduled",
    "paused_and_resumed",
    "yearly_retrying",
    "yearly_recovered",
]
PROSPECTS = 5  # customers with quotes and no subscription yet
MONTHLY_HISTORY_DAYS = 170  # healthy monthly customers joined within the last ~6 months
YEARLY_HISTORY_DAYS = 540  # yearly contracts reach back a year and a half

# The automations the demo editor sets up at the start of the history: the four reference recipes
# (SPEC §2) and, checked after the annual dunning, an alert to the billing team about failed
# monthly payments (which the default retry settings handle).
NO_WAIT = {"amount": 0, "unit": "days"}
COLLECTIONS_EMAIL = f"collections@{TEAM_DOMAIN}"
BILLING_TEAM_EMAIL = f"billing@{TEAM_DOMAIN}"
SURVEY_URL = f"https://{TEAM_DOMAIN}/survey"
AUTOMATIONS = [
    {
        "name": "Annual subscriber dunning",
        "trigger": "subscription.payment_failed",
        "filters": [{"type": "subscription_interval", "params": {"interval": "year"}}],
        "steps": [
            {"action": "set_retry_policy", "delay": NO_WAIT, "params": {"policy": "Annual plans"}},
            {"action": "cancel_subscription", "delay": {"amount": 7, "unit": "days"}, "params": {}},
            {"action": "mark_invoice_uncollectible", "delay": NO_WAIT, "params": {}},
        ],
    },
    {
        "name": "Large overdue invoices to collections",
        "trigger": "invoice.overdue",
        "filters": [{"type": "invoice_amount", "params": {"min": "500.01"}}],
        "steps": [
            {
                "action": "send_team_email",
                "delay": NO_WAIT,
                "params": {
                    "recipient": COLLECTIONS_EMAIL,
                    "message": "Invoice {number} of {customer} is {days_overdue} days overdue: "
                    "{amount} still due. {link}",
                },
            }
        ],
    },
    {
        "name": "Cancellation confirmation",
        "trigger": "subscription.canceled",
        "filters": [],
        "steps": [{"action": "send_cancellation_email", "delay": NO_WAIT, "params": {"survey_url": SURVEY_URL}}],
    },
    {
        "name": "Quote expiry reminder",
        "trigger": "quote.expiring",
        "filters": [],
        "steps": [
            {
                "action": "send_quote_will_expire_webhook",
                "delay": {"amount": 3, "unit": "days", "direction": "before"},
                "params": {},
            }
        ],
    },
    {
        "name": "Failed monthly payment alert",
        "trigger": "subscription.payment_failed",
        "filters": [{"type": "subscription_interval", "params": {"interval": "month"}}],
        "steps": [
            {
                "action": "send_team_email",
                "delay": NO_WAIT,
                "params": {
                    "recipient": BILLING_TEAM_EMAIL,
                    "message": "The payment of invoice {number} ({customer}, {amount}) failed; the default "
                    "retries are under way. {link}",
                },
            }
        ],
    },
]
# A test clock frozen at the demo's now, with one yearly customer whose card declines: the
# Annual subscriber dunning automation has started a run on it, whose steps wait for the clock
# to be advanced (README: "Try an automation on a test clock").
REHEARSAL_CLOCK = "Rehearsal: annual dunning"
REHEARSAL_CUSTOMER = ("Dry Run Rentals", "accounts@dryrun-rentals.example")

# The history's emails are sent at their moment but not delivered: a demo mails no one, and
# `make run` would otherwise print a year of them on the console.
DEMO_MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    role: str
    is_staff: bool


EDITOR_LOGIN = DemoLogin("demo", "relance-demo", EDITORS, is_staff=True)
VIEWER_LOGIN = DemoLogin("viewer", "relance-viewer", VIEWERS, is_staff=False)


@dataclass
class SeedResult:
    created: bool  # False when a demo dataset was already there and nothing was built
    customers: int = 0
    subscriptions: dict[str, int] = field(default_factory=dict)  # per status
    invoices: dict[str, int] = field(default_factory=dict)  # per status
    quotes: dict[str, int] = field(default_factory=dict)  # per status
    overdue_invoices: int = 0  # open, past due, flagged with invoice.overdue
    failed_payment_invoices: int = 0  # open, failed at least once, a retry scheduled
    events: int = 0
    automations: int = 0
    runs: dict[str, int] = field(default_factory=dict)  # automation runs per status
    emails: int = 0  # sent by the automations during the history
    test_clocks: list[str] = field(default_factory=list)  # their names
    history_from: datetime | None = None  # the first and last events
    history_to: datetime | None = None
    logins: list[DemoLogin] = field(default_factory=list)
    url: str = DEMO_URL


def seed_demo(*, now: datetime | None = None) -> SeedResult:
    """Build the demo dataset unless it exists; always ensure the demo logins.

    `now` is where the simulated history ends (default: the billing clock); what lies after it
    (retries, expiries, scheduled cancellations and pauses) is still to come.
    """
    with receivers_paused(), transaction.atomic():
        logins = ensure_demo_logins()
        created = not demo_exists()
        if created:
            _DemoBuilder(now or clock.now()).build()
    return _summarize(created=created, logins=logins)


def demo_exists() -> bool:
    key, value = DEMO_MARKER
    return Customer.objects.filter(**{f"metadata__{key}": value}).exists()


def ensure_demo_logins() -> list[DemoLogin]:
    """The demo editor (staff, with the admin permissions of the Relance apps) and viewer, given
    their role by `ops.users.user_set_role`.

    The editor is not a superuser, so the demo shows the Editors role as it is. The published
    password is set when the login is created (hashing takes a noticeable fraction of a second);
    a password changed since is left alone.
    """
    role_for_group = {group: role for role, group in ROLES.items()}
    for login in (EDITOR_LOGIN, VIEWER_LOGIN):
        existing = User.objects.filter(username=login.username).first()
        new_password = existing is None or not existing.has_usable_password()
        password = login.password if new_password else None
        user = user_set_role(username=login.username, role=role_for_group[login.role], password=password).user
        if existing is None:  # set after the password's checks: the viewer's is too like its address
            user.email = f"{login.username}@{TEAM_DOMAIN}"
        user.is_staff = login.is_staff
        user.is_active = True
        user.save(update_fields=["email", "is_staff", "is_active"])
        if login.is_staff:
            user.user_permissions.add(*Permission.objects.filter(content_type__app_label__in=EDITOR_ADMIN_APPS))
    return [EDITOR_LOGIN, VIEWER_LOGIN]


def _summarize(*, created: bool, logins: list[DemoLogin]) -> SeedResult:
    def per_status(model) -> dict[str, int]:
        rows = model.objects.order_by().values_list("status").annotate(n=Count("id"))
        return dict(sorted(rows))

    span = Event.objects.aggregate(first=Min("created"), last=Max("created"))
    return SeedResult(
        created=created,
        customers=Customer.objects.count(),
        subscriptions=per_status(Subscription),
        invoices=per_status(Invoice),
        quotes=per_status(Quote),
        overdue_invoices=Invoice.objects.filter(status=InvoiceStatus.OPEN, overdue_at__isnull=False).count(),
        failed_payment_invoices=Invoice.objects.filter(
            status=InvoiceStatus.OPEN, attempt_count__gt=0, next_payment_attempt__isnull=False
        ).count(),
        events=Event.objects.count(),
        automations=Automation.objects.filter(archived_at__isnull=True).count(),
        runs=per_status(Run),
        emails=OutboundEmail.objects.filter(status=EmailStatus.SENT).count(),
        test_clocks=list(TestClock.objects.order_by("name").values_list("name", flat=True)),
        history_from=span["first"],
        history_to=span["last"],
        logins=logins,
    )


# --- Simulated time ----------------------------------------------------------------------


@dataclass(order=True)
class _Action:
    moment: datetime
    order: int  # actions planned for the same moment run in the order they were planned
    run: Callable[[], object] = field(compare=False)


class _Timeline:
    """The demo's simulated time: the planned actions, and the periodic jobs and the automation
    engine run as the worker would."""

    def __init__(self, now: datetime):
        self.now = now
        self.queue: list[_Action] = []
        self.order = itertools.count()
        self.steps = 0  # moments lived through
        self.job_steps = 0  # moments at which the jobs ran
        self.steps_executed = 0  # automation steps run

    def at(self, moment: datetime, action: Callable, *args, **kwargs) -> None:
        """Plan `action(*args, **kwargs)` at `moment` (not after now)."""
        if moment > self.now:
            raise ValueError(f"A demo action is planned on {moment:%Y-%m-%d %H:%M}, after now ({self.now:%Y-%m-%d}).")
        heapq.heappush(self.queue, _Action(moment, next(self.order), lambda: action(*args, **kwargs)))

    def run(self) -> None:
        """Live from the first planned action up to now.

        Time goes from one moment to the next at which something happens: a planned action,
        work for a periodic job (see `next_job_work`), or an automation step falling due. With
        billing's clock at that moment, the actions planned for it run, then the engine's
        `run_due` runs what the worker would: when a job has work, every periodic job in order
        (the worker runs them every minute), then the events recorded meanwhile are handled in
        the order they were recorded (every one, concerning an automation or not, so the
        engine's sweep finds nothing to catch up), and the due steps run, again while their own
        events start runs with steps due at once; then the emails they queued are sent, at that
        moment. At a moment with actions only, the jobs would find nothing (what a service sets
        in motion falls due later), so they are not run; at the last moment, now, they run in
        any case. Stretches where nothing happens are skipped.
        """
        moment, work, step_due = None, None, None
        while moment != self.now:
            upcoming = [self.now, work, step_due, self.queue[0].moment if self.queue else None]
            moment = min(m for m in upcoming if m is not None)
            with clock.travel(moment):
                while self.queue and self.queue[0].moment <= moment:
                    heapq.heappop(self.queue).run()
            jobs = moment == self.now or (work is not None and work <= moment)
            done = run_due(moment, jobs=jobs)
            self.job_steps += jobs
            if done.steps:  # only steps queue emails
                self.steps_executed += done.steps
                with clock.travel(moment):
                    send_due()
            self.steps += 1
            work = next_job_work(after=moment)
            step_due = next_step_due(after=moment)


def next_job_work(*, after: datetime) -> datetime | None:
    """The first moment after `after` at which a periodic job may find work.

    It looks at the same dates as the jobs (period ends, scheduled cancellations, pause starts
    and ends, retries, due dates, quote expiries) with looser conditions: waking too early only
    costs an idle step, while the jobs themselves decide what is due.
    """
    subscriptions = Subscription.objects.exclude(status=SubscriptionStatus.CANCELED).aggregate(
        renewal=Min("current_period_end", filter=Q(current_period_end__gt=after)),
        cancellation=Min("cancel_at", filter=Q(cancel_at__gt=after)),
        pause=Min("pause_starts_at", filter=Q(pause_starts_at__gt=after)),
        resume=Min("pause_resumes_at", filter=Q(pause_resumes_at__gt=after)),
    )
    invoices = Invoice.objects.filter(status=InvoiceStatus.OPEN).aggregate(
        retry=Min("next_payment_attempt", filter=Q(next_payment_attempt__gt=after)),
        overdue=Min("due_date", filter=Q(due_date__gt=after, overdue_at__isnull=True)),
    )
    quotes = Quote.objects.filter(status=QuoteStatus.OPEN, expires_at__gt=after).aggregate(expiry=Min("expires_at"))
    moments = [m for m in (*subscriptions.values(), *invoices.values(), *quotes.values()) if m is not None]
    return min(moments, default=None)


# --- The demo's plan -----------------------------------------------------------------------


@dataclass
class _Profile:
    name: str
    email: str
    currency: str
    segment: str
    tier: str
    role: str  # a story, "prospect" or "healthy"
    card: str


class _DemoBuilder:
    """Plans the demo (account, catalog, then each customer's history, one-off invoices and
    quotes), then lives through it on a `_Timeline` up to now.

    The plan is drawn whole from `random.Random(42)` before the simulation starts. Actions name
    customers by their name: the simulation creates the objects (`self.customers`,
    `self.subscriptions`, `self.documents`) as it reaches them.
    """

    def __init__(self, now: datetime):
        self.now = now
        self.rng = random.Random(42)
        self.home = settings.DEFAULT_CURRENCY
        self.currencies = [self.home, *[c for c in ("EUR", "USD", "GBP") if c != self.home][:2]]
        self.prices: dict[tuple[str, str, str], Price] = {}
        self.timeline = _Timeline(now)
        self.joined: dict[str, datetime] = {}  # customer name → planned sign-up
        self.customers: dict[str, Customer] = {}
        self.subscriptions: dict[str, Subscription] = {}
        self.documents: dict[str, Invoice | Quote] = {}  # one-off invoices and quotes, by a key of the plan

    def build(self) -> None:
        self.account()
        seed_rates(settings.DEFAULT_CURRENCY)
        self.catalog()
        healthy, prospects = [], []
        for profile in self.profiles():
            if profile.role == "healthy":
                healthy.append(profile)
                self.healthy(profile)
            elif profile.role == "prospect":
                prospects.append(profile)
            else:
                getattr(self, f"story_{profile.role}")(profile)
        healthy.sort(key=lambda profile: self.joined[profile.name])  # long-standing customers first
        self.manual_invoices(healthy[:10])
        self.quotes(prospects=prospects, existing=healthy[10:16])
        first = self.timeline.queue[0].moment  # the earliest planned action (the queue is a heap)
        self.timeline.at(first - timedelta(hours=1), self._automations)
        with override_settings(MAILERS=DEMO_MAILERS):
            self.timeline.run()
        self.rehearsal()

    # --- Account and catalog -------------------------------------------------------------

    def account(self) -> None:
        account = AccountSettings.load()
        account.default_currency = settings.DEFAULT_CURRENCY
        account.team_email_domains = [TEAM_DOMAIN]
        account.schedule_kind = ScheduleKind.WITHIN_DAYS
        account.max_retries = 4
        account.within_days = 14
        account.end_behavior = EndBehavior.MARK_UNPAID
        account.business_name = "Relance Demo Co."  # customers' emails sign with it
        account.support_email = f"support@{TEAM_DOMAIN}"
        account.full_clean()
        account.save()
        self.retry_policy(
            "Annual plans",
            schedule_kind=ScheduleKind.DAY_OFFSETS,
            day_offsets=[3, 7, 14, 21],
            end_behavior=EndBehavior.CANCEL_SUBSCRIPTION,
        )
        self.gentle_policy = self.retry_policy(
            "Gentle",
            schedule_kind=ScheduleKind.WITHIN_DAYS,
            max_retries=4,
            within_days=21,
            end_behavior=EndBehavior.LEAVE_PAST_DUE,
        )

    def _automations(self) -> None:
        """The demo editor sets up the automations (an existing one of the same name is kept)."""
        editor = User.objects.get(username=EDITOR_LOGIN.username)
        now = clock.now()
        for definition in AUTOMATIONS:
            if Automation.objects.filter(name=definition["name"], archived_at__isnull=True).exists():
                continue
            automation = automation_create(**definition, user=editor)
            # Their creation times are the database's (auto_now_add): set them to the history's.
            Automation.objects.filter(pk=automation.pk).update(created=now, updated=now)
            AutomationVersion.objects.filter(automation=automation).update(created=now)

    def rehearsal(self) -> TestClock:
        """The test clock to rehearse the annual dunning on, frozen at now: its customer signs up
        for a yearly plan with a card that declines, and the clock's events are handled at the
        clock's time, so the automation's run waits there with its steps pending."""
        test_clock = clock_create(name=REHEARSAL_CLOCK, frozen_time=self.now)
        name, email = REHEARSAL_CUSTOMER
        key, value = DEMO_MARKER
        customer = customer_create(
            name=name,
            email=email,
            currency=self.home,
            metadata={key: value, "segment": "smb", "plan_tier": "pro", "region": REGIONS.get(self.home, "eu")},
            default_payment_method=DECLINED_CARD,
            test_clock=test_clock,
        )
        subscription_create(
            customer=customer, items=[(self.price("pro", Interval.YEAR, self.home), 1)], metadata={"plan_tier": "pro"}
        )
        run_due(test_clock.frozen_time, test_clock=test_clock)
        return test_clock

    def retry_policy(self, name: str, **fields) -> RetryPolicy:
        policy = RetryPolicy.objects.filter(name=name).first() or RetryPolicy(name=name)
        for key, value in fields.items():
            setattr(policy, key, value)
        policy.full_clean()
        policy.save()
        return policy

    def catalog(self) -> None:
        for key, (name, description, amounts) in {**CATALOG, **ONE_OFF}.items():
            product = Product.objects.create(name=name, description=description, metadata={"key": key})
            intervals = [Interval.MONTH, Interval.YEAR] if key in CATALOG else [""]
            for currency in self.currencies:
                monthly = self.amount(amounts, currency)
                for interval in intervals:
                    label = {"month": "monthly", "year": "yearly", "": "one-off"}[interval]
                    self.prices[key, interval, currency] = Price.objects.create(
                        product=product,
                        nickname=f"{name} {label} ({currency})",
                        unit_amount=Money(monthly * (10 if interval == Interval.YEAR else 1), currency),
                        interval=interval,
                    )

    @staticmethod
    def amount(amounts: dict[str, int], currency: str) -> Decimal:
        if currency in amounts:
            return Decimal(amounts[currency])
        return (Decimal(amounts["EUR"]) * RATES_PER_EUR[currency]).quantize(Decimal(1))

    def price(self, key: str, interval: str, currency: str) -> Price:
        return self.prices[key, interval, currency]

    # --- Moments -------------------------------------------------------------------------

    def office_hours(self, day: datetime, rng: random.Random | None = None) -> datetime:
        """A moment during office hours (local time) on `day`'s date."""
        rng = rng or self.rng
        local = timezone.localtime(day)
        moment = local.replace(hour=rng.randint(8, 17), minute=rng.randint(0, 59), second=0, microsecond=0)
        return moment.astimezone(UTC)

    def ago(self, *, days: int = 0, months: int = 0, years: int = 0) -> datetime:
        """Office hours on the day that long before now (always before now)."""
        day = self.now - timedelta(days=days)
        if months:
            day = add_interval(day, Interval.MONTH, -months)
        if years:
            day = add_interval(day, Interval.YEAR, -years)
        moment = self.office_hours(day)
        while moment >= self.now:
            moment -= timedelta(days=1)
        return moment

    def days_after(self, moment: datetime, days: int, rng: random.Random | None = None) -> datetime:
        """Office hours `days` (≥ 1) days after `moment`; with a negative `days`, before it."""
        return self.office_hours(moment + timedelta(days=days), rng)

    def once_joined(self, profile: _Profile, moment: datetime) -> datetime:
        """`moment`, or a day after the customer joined if that is later."""
        return max(moment, self.joined[profile.name] + timedelta(days=1))

    # --- Customers ---------------------------------------------------------------------

    def profiles(self) -> list[_Profile]:
        rng = self.rng
        roles = STORIES + ["prospect"] * PROSPECTS
        roles += ["healthy"] * (CUSTOMER_COUNT - len(roles))
        names = rng.sample(COMPANIES, CUSTOMER_COUNT)
        cards = {
            "fails_once_pending": FAILS_ONCE_CARD,
            "fails_once_recovered": FAILS_ONCE_CARD,
        }
        profiles = []
        for name, role in zip(names, roles, strict=True):
            tier = rng.choices(["starter", "pro", "business"], weights=[4, 4, 2])[0]
            if role.startswith(("overdue", "yearly")) or role in ("cancel_at_date", "canceled_payment_failed"):
                tier = "business"  # invoiced and yearly customers are the bigger accounts
            segment = {
                "starter": "smb",
                "pro": rng.choice(["smb", "mid_market"]),
                "business": rng.choice(["mid_market", "enterprise"]),
            }[tier]
            domain = re.sub(r"[^a-z0-9]", "", name.split()[0].lower()) + ".example"
            if segment == "smb" or rng.random() < 0.5:
                email = f"{rng.choice(FIRST_NAMES)}.{rng.choice(LAST_NAMES)}@{domain}"
            else:
                email = f"{rng.choice(['billing', 'accounts', 'finance'])}@{domain}"
            currency = rng.choices(self.currencies, weights=[13, 4, 3])[0]
            card = cards.get(role, GOOD_CARD)
            if role == "prospect" and rng.random() < 0.4:
                card = ""  # not a paying customer yet
            profiles.append(_Profile(name, email, currency, segment, tier, role, card))
        return profiles

    def join(self, profile: _Profile, moment: datetime) -> None:
        """Plan the customer's creation at `moment`."""
        key, value = DEMO_MARKER
        metadata = {
            key: value,
            "segment": profile.segment,
            "plan_tier": profile.tier,
            "region": REGIONS.get(profile.currency, "eu"),
        }
        if profile.segment == "enterprise":
            metadata["account_manager"] = self.rng.choice(ACCOUNT_MANAGERS)
        self.joined[profile.name] = moment
        self.timeline.at(moment, self._create_customer, profile, metadata)

    def _create_customer(self, profile: _Profile, metadata: dict) -> None:
        self.customers[profile.name] = customer_create(
            name=profile.name,
            email=profile.email,
            currency=profile.currency,
            metadata=metadata,
            default_payment_method=profile.card,
        )

    # --- Subscriptions -----------------------------------------------------------------

    def sign_up(
        self,
        profile: _Profile,
        start: datetime,
        *,
        interval: str = Interval.MONTH,
        send_invoice_days: int | None = None,
        extras: bool = True,
    ) -> list[datetime]:
        """Plan the customer joining on `start` with a plan starting then (its first period billed
        at once). Returns the starts of the periods the renewal job will reach by now."""
        if start.day > 28 and add_interval(start, interval) <= self.now:
            start -= timedelta(days=start.day - 28)  # renewals then fall on the same day every month
        self.join(profile, start)
        tier, currency = profile.tier, profile.currency
        items = [(self.price(tier, interval, currency), 1)]
        seats = 0
        if extras and tier != "starter" and self.rng.random() < 0.5:
            seats = self.rng.randint(2, 15)
            items.append((self.price("seats", interval, currency), seats))
        if extras and tier == "business" and self.rng.random() < 0.4:
            items.append((self.price("support", interval, currency), 1))
        metadata = {"plan_tier": tier}
        if seats:
            metadata["extra_seats"] = str(seats)
        self.timeline.at(start, self._subscribe, profile, items, metadata, send_invoice_days)
        periods = [start]
        while (following := add_interval(periods[-1], interval)) <= self.now:
            periods.append(following)
        return periods

    def _subscribe(self, profile: _Profile, items, metadata: dict, send_invoice_days: int | None) -> None:
        self.subscriptions[profile.name] = subscription_create(
            customer=self.customers[profile.name],
            items=items,
            collection_method=CollectionMethod.SEND_INVOICE
            if send_invoice_days
            else CollectionMethod.CHARGE_AUTOMATICALLY,
            days_until_due=send_invoice_days,
            metadata=metadata,
        )

    def pays_by_transfer(
        self, profile: _Profile, periods: list[datetime], days_until_due: int, *, unpaid: int = 0, last_late=False
    ) -> None:
        """Plan the bank transfers paying each period's invoice a few days after it was sent, now
        and then a few days late (once found overdue; always for the last one paid if
        `last_late`); the last `unpaid` invoices stay open.

        Each customer draws these from a generator of its own, so how many periods fit before
        now does not change the rest of the plan.
        """
        rng = random.Random(f"42:{profile.name}")
        paying = periods[: len(periods) - unpaid]
        for index, start in enumerate(paying, start=1):
            due = start + timedelta(days=days_until_due)
            late = rng.random() < 0.2 or (last_late and index == len(paying))
            if late and due < self.now - timedelta(days=15):
                paid = self.days_after(due, rng.randint(2, 9), rng)
            else:
                paid = self.days_after(start, rng.randint(2, days_until_due - 2), rng)
            if paid < self.now:  # otherwise it is sent and not due yet
                self.timeline.at(paid, self._pay_by_transfer, profile, start)

    def _pay_by_transfer(self, profile: _Profile, period_start: datetime) -> None:
        invoice = self.subscriptions[profile.name].invoices.get(period_start=period_start)
        invoice_mark_paid(invoice=invoice, paid_out_of_band=True)

    def change_card(self, profile: _Profile, moment: datetime, card: str) -> None:
        self.timeline.at(moment, self._change_card, profile, card)

    def _change_card(self, profile: _Profile, card: str) -> None:
        customer_update(customer=self.customers[profile.name], default_payment_method=card)

    def latest_invoice(self, profile: _Profile) -> Invoice:
        return self.subscriptions[profile.name].invoices.order_by("-period_start", "-pk").first()

    def _use_retry_policy(self, profile: _Profile, policy: RetryPolicy) -> None:
        invoice_update(invoice=self.latest_invoice(profile), retry_policy=policy)

    def _schedule_cancel(self, profile: _Profile, **when) -> None:
        subscription_schedule_cancel(subscription=self.subscriptions[profile.name], **when)

    def _pause(self, profile: _Profile, **how) -> None:
        subscription_pause_collection(subscription=self.subscriptions[profile.name], **how)

    def _pause_next_period(self, profile: _Profile) -> None:
        subscription = self.subscriptions[profile.name]
        subscription.refresh_from_db()
        starts = subscription.current_period_end
        self._pause(
            profile,
            behavior=PauseBehavior.VOID,
            starts_at=starts,
            resumes_at=add_interval(starts, Interval.MONTH),
        )

    def healthy(self, profile: _Profile) -> None:
        """Pays every period: by card, or (some enterprise accounts) by bank transfer."""
        rng = self.rng
        interval = Interval.YEAR if rng.random() < 0.35 else Interval.MONTH
        send_invoice_days = rng.choice([14, 30]) if profile.segment == "enterprise" and rng.random() < 0.7 else None
        days = (
            rng.randint(20, YEARLY_HISTORY_DAYS) if interval == Interval.YEAR else rng.randint(3, MONTHLY_HISTORY_DAYS)
        )
        periods = self.sign_up(profile, self.ago(days=days), interval=interval, send_invoice_days=send_invoice_days)
        if send_invoice_days:
            self.pays_by_transfer(profile, periods, send_invoice_days)

    # --- Stories -----------------------------------------------------------------------

    def story_overdue_monthly(self, profile: _Profile) -> None:
        """Pays by bank transfer, last month's invoice after a reminder; the current invoice fell
        due about six days ago."""
        periods = self.sign_up(profile, self.ago(days=20, months=2), send_invoice_days=14)
        self.pays_by_transfer(profile, periods, 14, unpaid=1, last_late=True)

    def story_overdue_yearly(self, profile: _Profile) -> None:
        """Yearly contract; last year's invoice was paid, the renewal fell due about two weeks ago."""
        periods = self.sign_up(profile, self.ago(days=45, years=1), interval=Interval.YEAR, send_invoice_days=30)
        self.pays_by_transfer(profile, periods, 30, unpaid=1)

    def story_overdue_two_invoices(self, profile: _Profile) -> None:
        """Two invoices unpaid: last month's is overdue, this month's is not due yet."""
        periods = self.sign_up(profile, self.ago(days=10, months=3), send_invoice_days=30)
        self.pays_by_transfer(profile, periods, 30, unpaid=2)

    def _card_fails_at_last_renewal(self, profile: _Profile, card: str, *, months: int) -> datetime:
        """The card starts failing shortly before the latest renewal (a few days ago, so its
        retries are still under way). Returns that renewal's moment."""
        periods = self.sign_up(profile, self.ago(days=self.rng.randint(2, 9), months=months))
        self.change_card(profile, self.days_after(periods[-1], -self.rng.randint(3, 12)), card)
        return periods[-1]

    def story_declined(self, profile: _Profile) -> None:
        self._card_fails_at_last_renewal(profile, DECLINED_CARD, months=3)

    def story_insufficient_funds(self, profile: _Profile) -> None:
        """After the failure, the account manager moves the invoice to the Gentle retry policy."""
        renewal = self._card_fails_at_last_renewal(profile, INSUFFICIENT_FUNDS_CARD, months=2)
        moved = renewal + timedelta(hours=self.rng.randint(1, 6))
        self.timeline.at(moved, self._use_retry_policy, profile, self.gentle_policy)

    def story_expired_card(self, profile: _Profile) -> None:
        self._card_fails_at_last_renewal(profile, EXPIRED_CARD, months=4)

    def story_fails_once_pending(self, profile: _Profile) -> None:
        """Signed up two days ago; the first charge failed and its retry (still to come) will succeed."""
        self.sign_up(profile, self.ago(days=2))

    def story_fails_once_recovered(self, profile: _Profile) -> None:
        """The first charge failed; the retry job charged it again three and a half days later."""
        self.sign_up(profile, self.ago(days=6))

    def story_card_updated(self, profile: _Profile) -> None:
        """A renewal failed twice on a declined card; the customer put in a new card, charged at
        once, which made the subscription active again."""
        periods = self.sign_up(profile, self.ago(days=self.rng.randint(5, 20), months=3))
        failed = periods[-2]
        self.change_card(profile, self.days_after(failed, -self.rng.randint(2, 10)), DECLINED_CARD)
        self.change_card(profile, self.days_after(failed, 5), GOOD_CARD)  # between the 2nd and 3rd retries

    def story_unpaid(self, profile: _Profile) -> None:
        """A month ago the card began to decline; the retries ran out (default settings: mark
        unpaid), and the latest period's invoice waits as a draft."""
        periods = self.sign_up(profile, self.ago(days=5, months=3))
        self.change_card(profile, self.days_after(periods[-2], -self.rng.randint(3, 10)), DECLINED_CARD)

    def story_canceled_payment_failed(self, profile: _Profile) -> None:
        """The yearly renewal was declined; the Annual subscriber dunning automation put the
        invoice on the Annual plans policy, whose last retry canceled the subscription; a week
        later the automation found it canceled already and wrote the invoice off. (A declined
        card, not an expired one: after a hard decline nothing is retried until the card changes.)"""
        periods = self.sign_up(profile, self.ago(days=40, years=1), interval=Interval.YEAR)
        self.change_card(profile, self.days_after(periods[-1], -self.rng.randint(10, 40)), DECLINED_CARD)

    def story_yearly_retrying(self, profile: _Profile) -> None:
        """The yearly renewal failed five days ago: the Annual subscriber dunning automation waits
        for the Annual plans retries (the first failed, the next is in two days)."""
        periods = self.sign_up(profile, self.ago(days=5, years=1), interval=Interval.YEAR)
        self.change_card(profile, self.days_after(periods[-1], -self.rng.randint(10, 40)), DECLINED_CARD)

    def story_yearly_recovered(self, profile: _Profile) -> None:
        """The yearly renewal failed for lack of funds; the customer put in a new card after the
        first retry, charged at once, which ended the dunning run."""
        periods = self.sign_up(profile, self.ago(days=45, years=1), interval=Interval.YEAR)
        renewal = periods[-1]
        self.change_card(profile, self.days_after(renewal, -self.rng.randint(10, 40)), INSUFFICIENT_FUNDS_CARD)
        self.change_card(profile, self.days_after(renewal, 5), GOOD_CARD)  # between the retries of days 3 and 7

    def story_canceled(self, profile: _Profile) -> None:
        """Asked to leave at the end of the period; the job canceled it when the period ended."""
        periods = self.sign_up(profile, self.ago(days=12, months=4))
        asked = self.days_after(periods[-1], -self.rng.randint(3, 15))
        self.timeline.at(asked, self._schedule_cancel, profile, at_period_end=True)

    def story_cancel_at_period_end(self, profile: _Profile) -> None:
        periods = self.sign_up(profile, self.ago(days=self.rng.randint(6, 25), months=4))
        asked = self.days_after(periods[-1], self.rng.randint(1, 3))
        self.timeline.at(asked, self._schedule_cancel, profile, at_period_end=True)

    def story_cancel_at_period_end_yearly(self, profile: _Profile) -> None:
        self.sign_up(profile, self.ago(days=340), interval=Interval.YEAR)
        asked = self.ago(days=self.rng.randint(3, 20))
        self.timeline.at(asked, self._schedule_cancel, profile, at_period_end=True)

    def story_cancel_at_date(self, profile: _Profile) -> None:
        """Yearly plan ending early, on a date agreed with the customer."""
        self.sign_up(profile, self.ago(days=100), interval=Interval.YEAR)
        asked, ends = self.ago(days=self.rng.randint(2, 10)), self.days_after(self.now, 40)
        self.timeline.at(asked, self._schedule_cancel, profile, at=ends)

    def story_paused(self, profile: _Profile) -> None:
        """Collection paused a few days before this period began, so its invoice is kept as a draft."""
        periods = self.sign_up(profile, self.ago(days=12, months=3))
        asked, resumes = self.days_after(periods[-1], -self.rng.randint(2, 6)), self.days_after(self.now, 20)
        self.timeline.at(asked, self._pause, profile, behavior=PauseBehavior.KEEP_AS_DRAFT, resumes_at=resumes)

    def story_pause_scheduled(self, profile: _Profile) -> None:
        """A seasonal business pausing for one period from its next renewal."""
        self.sign_up(profile, self.ago(days=18, months=3))
        self.timeline.at(self.ago(days=self.rng.randint(2, 8)), self._pause_next_period, profile)

    def story_paused_and_resumed(self, profile: _Profile) -> None:
        """Paused for a month (from the day before a renewal, whose invoice was voided); the
        pause job started and ended it; paying again since."""
        periods = self.sign_up(profile, self.ago(days=self.rng.randint(5, 20), months=5))
        starts, resumes = periods[-3] - timedelta(days=1), periods[-2] - timedelta(days=1)
        asked = self.days_after(starts, -self.rng.randint(3, 10))
        self.timeline.at(asked, self._pause, profile, behavior=PauseBehavior.VOID, starts_at=starts, resumes_at=resumes)

    # --- One-off invoices and quotes ---------------------------------------------------

    def onboarding(self, currency: str) -> LineItem:
        return LineItem(price=self.price("onboarding", "", currency))

    def hours(self, currency: str, hours: int, what: str = "Consulting") -> LineItem:
        rate = self.amount({"EUR": 120, "USD": 130, "GBP": 100}, currency)
        return LineItem(description=f"{what} (hours)", unit_amount=Money(rate, currency), quantity=hours)

    def invoice(self, profile: _Profile, moment: datetime, key: str, lines: list[LineItem], **options) -> None:
        """Plan a one-off invoice (finalized unless `draft`, charged if `charge`), kept as `key`."""
        self.timeline.at(self.once_joined(profile, moment), self._invoice, profile, key, lines, **options)

    def _invoice(self, profile, key, lines, *, description, draft=False, charge=False, days_until_due=None) -> None:
        collection = CollectionMethod.CHARGE_AUTOMATICALLY if charge else CollectionMethod.SEND_INVOICE
        invoice = invoice_create(
            customer=self.customers[profile.name],
            lines=lines,
            collection_method=collection,
            days_until_due=days_until_due,
            description=description,
        )
        if not draft:
            invoice = invoice_finalize(invoice=invoice)
        if charge:
            invoice_attempt_payment(invoice=invoice)
        self.documents[key] = invoice

    def _void(self, key: str, reason: str) -> None:
        invoice = invoice_update(invoice=self.documents[key], metadata={"void_reason": reason})
        invoice_void(invoice=invoice)

    def _write_off(self, key: str) -> None:
        invoice_mark_uncollectible(invoice=self.documents[key])

    def manual_invoices(self, customers: list[_Profile]) -> None:
        """Onboarding and consulting invoices in every status, for long-standing customers."""
        rng = self.rng
        write_off, overdue, *others = customers
        # Sent 105 days ago, due 30 days later, found overdue by the job, written off weeks after.
        lines = [self.onboarding(write_off.currency), self.hours(write_off.currency, 8, "Custom integration")]
        self.invoice(write_off, self.ago(days=105), "write_off", lines, description="Onboarding and integration")
        self.timeline.at(self.ago(days=rng.randint(10, 30)), self._write_off, "write_off")
        # Sent six weeks ago on 30 days: overdue since about twelve days.
        lines = [self.hours(overdue.currency, 10, "Data migration")]
        self.invoice(overdue, self.ago(days=42), "overdue", lines, description="Data migration", days_until_due=30)
        for profile in others[:4]:  # onboarding, charged to the card a few days after signing up
            sent = self.days_after(self.joined[profile.name], rng.randint(1, 4))
            lines = [self.onboarding(profile.currency)]
            self.invoice(profile, sent, f"onboarding:{profile.name}", lines, description="Onboarding", charge=True)
        for profile, reason in zip(others[4:6], ("Duplicate invoice", "Wrong billing address"), strict=True):
            key, sent = f"voided:{profile.name}", self.once_joined(profile, self.ago(days=rng.randint(20, 90)))
            self.invoice(profile, sent, key, [self.onboarding(profile.currency)], description="Onboarding")
            self.timeline.at(self.days_after(sent, rng.randint(1, 3)), self._void, key, reason)
        for profile, hours in zip(others[6:8], (6, 14), strict=True):  # being prepared
            lines = [self.hours(profile.currency, hours), self.hours(profile.currency, 2, "Project management")]
            started = self.ago(days=rng.randint(1, 4))
            self.invoice(
                profile, started, f"draft:{profile.name}", lines, description="Consulting this month", draft=True
            )

    def quote_lines(self, profile: _Profile, *, upgrade: bool) -> list[LineItem]:
        currency = profile.currency
        lines = [LineItem(price=self.price("business", Interval.YEAR, currency))]
        if upgrade:
            lines.append(LineItem(price=self.price("seats", Interval.YEAR, currency), quantity=self.rng.randint(3, 12)))
        else:
            lines.append(self.onboarding(currency))
        return lines

    def quote(
        self, profile: _Profile, moment: datetime, *, finalize: bool = True, expires_in: int | None = None
    ) -> None:
        """Plan a quote made at `moment` (a prospect joins a few days before its first quote);
        finalized quotes expire 30 days later unless `expires_in` says otherwise."""
        upgrade = profile.role != "prospect"
        if upgrade:
            moment = self.once_joined(profile, moment)
        elif profile.name not in self.joined:
            self.join(profile, self.days_after(moment, -self.rng.randint(1, 10)))
        lines = self.quote_lines(profile, upgrade=upgrade)
        description = "Upgrade to Business (annual)" if upgrade else "Business plan (annual) with onboarding"
        self.timeline.at(moment, self._quote, profile, lines, description, finalize, expires_in)

    def _quote(self, profile, lines, description, finalize, expires_in) -> None:
        expires_at = clock.now() + timedelta(days=expires_in) if expires_in else None
        quote = quote_create(
            customer=self.customers[profile.name], lines=lines, expires_at=expires_at, description=description
        )
        self.documents[f"quote:{profile.name}"] = quote_finalize(quote=quote) if finalize else quote

    def _accept(self, profile: _Profile, *, charge: bool) -> None:
        quote = quote_accept(quote=self.documents[f"quote:{profile.name}"])
        if charge:
            invoice_attempt_payment(invoice=invoice_finalize(invoice=quote.invoice))

    def _cancel_quote(self, profile: _Profile, reason: str) -> None:
        quote_cancel(quote=self.documents[f"quote:{profile.name}"], reason=reason)

    def quotes(self, *, prospects: list[_Profile], existing: list[_Profile]) -> None:
        """Quotes in every status; open ones expire in a few days to a few weeks, one expired."""
        rng = self.rng
        at = self.timeline.at
        self.quote(prospects[0], self.ago(days=rng.randint(1, 5)), finalize=False, expires_in=30)  # drafts
        self.quote(prospects[1], self.ago(days=rng.randint(1, 5)), finalize=False)
        # Open, sent 28, 25, 18 and 4 days ago: they expire in 2, 5, 12 and 26 days.
        for profile, days in zip([*prospects[2:5], existing[0]], (28, 25, 18, 4), strict=True):
            self.quote(profile, self.ago(days=days))
        self.quote(existing[1], self.ago(days=rng.randint(45, 70)))  # left to expire: the job cancels it
        self.quote(existing[2], self.ago(days=40))
        at(self.ago(days=33), self._accept, existing[2], charge=True)  # invoiced and paid at once
        self.quote(existing[3], self.ago(days=9))
        at(self.ago(days=3), self._accept, existing[3], charge=False)  # its invoice left as a draft
        self.quote(existing[4], self.ago(days=60), finalize=False)
        at(self.ago(days=52), self._cancel_quote, existing[4], "customer_declined")
        self.quote(existing[5], self.ago(days=20))
        at(self.ago(days=rng.randint(6, 15)), self._cancel_quote, existing[5], "superseded")


def format_result(result: SeedResult) -> str:
    """What the command prints: the dataset in figures, then where and how to log in."""

    def statuses(counts: dict[str, int]) -> str:
        return ", ".join(f"{n} {status}" for status, n in counts.items()) or "none"

    head = "Demo data created." if result.created else "Demo data already present; nothing new was created."
    lines = [
        head,
        f"  customers:      {result.customers}",
        f"  subscriptions:  {sum(result.subscriptions.values())} ({statuses(result.subscriptions)})",
        f"  invoices:       {sum(result.invoices.values())} ({statuses(result.invoices)}); "
        f"{result.overdue_invoices} overdue, {result.failed_payment_invoices} with a failed payment awaiting retry",
        f"  quotes:         {sum(result.quotes.values())} ({statuses(result.quotes)})",
        f"  events:         {result.events}",
        f"  automations:    {result.automations}, {sum(result.runs.values())} runs ({statuses(result.runs)}); "
        f"{result.emails} emails sent",
    ]
    if result.test_clocks:
        names = ", ".join(f"“{name}”" for name in result.test_clocks)
        lines.append(f"  test clocks:    {names} (advance them from Test clocks)")
    if result.history_from and result.history_to:
        lines.append(f"  history:        {result.history_from:%Y-%m-%d} to {result.history_to:%Y-%m-%d}")
    lines += ["", f"Open {result.url} and log in as:"]
    for login in result.logins:
        extra = ", staff: can use the admin at /admin/" if login.is_staff else ", read-only"
        lines.append(f"  {login.username} / {login.password}    ({login.role}{extra})")
    return "\n".join(lines)
