"""Demo data for a local Relance: a believable billing history, built through the services.

Every object is made the way the product would make it (customer_create, subscription_create,
subscription_renew, invoice_attempt_payment, quote_accept, run_overdue …), so each one carries
its events. The services stamp events and invoices with the billing clock, so the history is
"recorded now"; what lies in the past are the subscription periods (subscriptions start on past
dates and are renewed period by period up to today) and the due dates of invoices sent to be
paid by bank transfer.

The data is the same on every run (one `random.Random(42)`), apart from the public ids and
dates, which are relative to now. `seed_demo()` builds it once: a database that already holds
demo customers (metadata `demo: "1"`) is left as it is, only the demo logins are ensured.
"""

import random
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import Group, Permission, User
from django.db import transaction
from django.db.models import Count
from moneyed import Money

from billing import clock
from billing.exchange import RATES_PER_EUR, seed_rates
from billing.jobs import run_overdue
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
    RetryPolicy,
    ScheduleKind,
    Subscription,
)
from billing.permissions import EDITORS, VIEWERS
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
    subscription_cancel,
    subscription_create,
    subscription_pause_collection,
    subscription_renew,
    subscription_schedule_cancel,
)
from billing.services.subscriptions import add_interval

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
    "unpaid",
    "canceled_payment_failed",
    "canceled",
    "cancel_at_period_end",
    "cancel_at_period_end_yearly",
    "cancel_at_date",
    "paused",
    "pause_scheduled",
]
PROSPECTS = 5  # customers with quotes and no subscription yet


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
    logins: list[DemoLogin] = field(default_factory=list)
    url: str = DEMO_URL


def seed_demo(*, now: datetime | None = None) -> SeedResult:
    """Build the demo dataset unless it exists; always ensure the demo logins.

    `now` is the moment the demo's dates are measured from (default: the billing clock). The
    services stamp their own times with the clock, so pass the current time (tests pass the
    time they travelled to).
    """
    with transaction.atomic():
        logins = ensure_demo_logins()
        created = not demo_exists()
        if created:
            _DemoBuilder(now or clock.now()).build()
    return _summarize(created=created, logins=logins)


def demo_exists() -> bool:
    key, value = DEMO_MARKER
    return Customer.objects.filter(**{f"metadata__{key}": value}).exists()


def ensure_demo_logins() -> list[DemoLogin]:
    """The demo editor (staff, with the admin permissions of the Relance apps) and viewer.

    The editor is not a superuser, so the demo shows the Editors role as it is. The published
    password is set when the login is created (hashing takes a noticeable fraction of a second);
    a password changed since is left alone.
    """
    for login in (EDITOR_LOGIN, VIEWER_LOGIN):
        user, created = User.objects.get_or_create(
            username=login.username, defaults={"email": f"{login.username}@{TEAM_DOMAIN}"}
        )
        if created or not user.has_usable_password():
            user.set_password(login.password)
        user.is_staff = login.is_staff
        user.is_active = True
        user.save()
        group, _ = Group.objects.get_or_create(name=login.role)
        user.groups.add(group)
        if login.is_staff:
            user.user_permissions.add(*Permission.objects.filter(content_type__app_label__in=EDITOR_ADMIN_APPS))
    return [EDITOR_LOGIN, VIEWER_LOGIN]


def _summarize(*, created: bool, logins: list[DemoLogin]) -> SeedResult:
    def per_status(model) -> dict[str, int]:
        rows = model.objects.order_by().values_list("status").annotate(n=Count("id"))
        return dict(sorted(rows))

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
        logins=logins,
    )


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
    """Builds the dataset in order: account, catalog, customers, their stories, extras, jobs."""

    def __init__(self, now: datetime):
        self.now = now.replace(minute=0, second=0, microsecond=0)
        self.rng = random.Random(42)
        self.home = settings.DEFAULT_CURRENCY
        self.currencies = [self.home, *[c for c in ("EUR", "USD", "GBP") if c != self.home][:2]]
        self.prices: dict[tuple[str, str, str], Price] = {}
        self.write_offs: list[Invoice] = []

    def build(self) -> None:
        self.account()
        seed_rates(settings.DEFAULT_CURRENCY)
        self.catalog()
        healthy, prospects = [], []
        for profile in self.profiles():
            customer = self.customer(profile)
            if profile.role == "healthy":
                healthy.append(customer)
                self.healthy(customer)
            elif profile.role == "prospect":
                prospects.append(customer)
            else:
                getattr(self, f"story_{profile.role}")(customer)
        self.manual_invoices(healthy)
        self.quotes(prospects=prospects, existing=healthy)
        run_overdue()
        for invoice in self.write_offs:  # bad debt, written off once the overdue job flagged it
            invoice_mark_uncollectible(invoice=invoice)

    # --- Account and catalog -------------------------------------------------------------

    def account(self) -> None:
        account = AccountSettings.load()
        account.default_currency = settings.DEFAULT_CURRENCY
        account.team_email_domains = [TEAM_DOMAIN]
        account.schedule_kind = ScheduleKind.WITHIN_DAYS
        account.max_retries = 4
        account.within_days = 14
        account.end_behavior = EndBehavior.MARK_UNPAID
        account.full_clean()
        account.save()
        self.annual_policy = self.retry_policy(
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
            if role.startswith("overdue") or role in ("cancel_at_date", "canceled_payment_failed"):
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

    def customer(self, profile: _Profile) -> Customer:
        key, value = DEMO_MARKER
        metadata = {
            key: value,
            "segment": profile.segment,
            "plan_tier": profile.tier,
            "region": REGIONS.get(profile.currency, "eu"),
        }
        if profile.segment == "enterprise":
            metadata["account_manager"] = self.rng.choice(ACCOUNT_MANAGERS)
        return customer_create(
            name=profile.name,
            email=profile.email,
            currency=profile.currency,
            metadata=metadata,
            default_payment_method=profile.card,
        )

    # --- Subscriptions -----------------------------------------------------------------

    def subscribe(
        self,
        customer: Customer,
        *,
        interval: str = Interval.MONTH,
        start: datetime,
        send_invoice_days: int | None = None,
        extras: bool = True,
    ) -> Subscription:
        """Start the customer's plan on `start` (its first period is billed at once)."""
        tier, currency = customer.metadata["plan_tier"], customer.currency
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
        return subscription_create(
            customer=customer,
            items=items,
            collection_method=CollectionMethod.SEND_INVOICE
            if send_invoice_days
            else CollectionMethod.CHARGE_AUTOMATICALLY,
            days_until_due=send_invoice_days,
            metadata=metadata,
            start=start,
        )

    def ago(self, *, days: int = 0, months: int = 0, years: int = 0) -> datetime:
        moment = self.now - timedelta(days=days)
        if months:
            moment = add_interval(moment, Interval.MONTH, -months)
        if years:
            moment = add_interval(moment, Interval.YEAR, -years)
        return moment

    @staticmethod
    def periods_due(subscription: Subscription) -> int:
        """How many renewals it takes to bring the subscription's period up to now."""
        interval, end, now, count = subscription.interval, subscription.current_period_end, clock.now(), 0
        while end <= now:
            end, count = add_interval(end, interval), count + 1
        return count

    def renew(self, subscription: Subscription, *, leave: int = 0) -> Subscription:
        """Renew period by period up to now, leaving the last `leave` renewals for later."""
        for _ in range(self.periods_due(subscription) - leave):
            subscription_renew(subscription=subscription)
        subscription.refresh_from_db()
        return subscription

    def settle_sent_invoices(self, subscription: Subscription, *, unpaid: int = 1) -> None:
        """Invoices sent for bank transfer fall due `days_until_due` after their period starts;
        all but the last `unpaid` were paid."""
        invoices = list(subscription.invoices.order_by("period_start", "pk"))
        for invoice in invoices:
            due = invoice.period_start + timedelta(days=subscription.days_until_due or 30)
            invoice_update(invoice=invoice, due_date=due)
        for invoice in invoices[: max(len(invoices) - unpaid, 0)]:
            invoice_mark_paid(invoice=invoice, paid_out_of_band=True)

    def last_invoice(self, subscription: Subscription) -> Invoice:
        return subscription.invoices.order_by("-period_start", "-pk").first()

    def exhaust_retries(self, invoice: Invoice) -> None:
        """Run the remaining retries of a failing invoice until its schedule is used up."""
        invoice.refresh_from_db()
        while invoice.next_payment_attempt is not None:
            invoice_attempt_payment(invoice=invoice)
            invoice.refresh_from_db()

    def healthy(self, customer: Customer) -> None:
        rng = self.rng
        interval = Interval.YEAR if rng.random() < 0.35 else Interval.MONTH
        segment = customer.metadata["segment"]
        send_invoice_days = rng.choice([14, 30]) if segment == "enterprise" and rng.random() < 0.7 else None
        # A few months of history each: every billed period costs a few dozen queries.
        days = rng.randint(20, 550) if interval == Interval.YEAR else rng.randint(3, 100)
        subscription = self.renew(
            self.subscribe(customer, interval=interval, start=self.ago(days=days), send_invoice_days=send_invoice_days)
        )
        if send_invoice_days:
            self.settle_sent_invoices(subscription)

    # --- Stories -----------------------------------------------------------------------

    def story_overdue_monthly(self, customer: Customer) -> None:
        """Pays by bank transfer; the current invoice fell due six days ago."""
        start = self.ago(days=20, months=2)
        subscription = self.renew(self.subscribe(customer, start=start, send_invoice_days=14))
        self.settle_sent_invoices(subscription)

    def story_overdue_yearly(self, customer: Customer) -> None:
        """Yearly contract; the renewal invoice fell due two weeks ago."""
        start = self.ago(days=45, years=1)
        subscription = self.subscribe(customer, interval=Interval.YEAR, start=start, send_invoice_days=30)
        self.settle_sent_invoices(self.renew(subscription))

    def story_overdue_two_invoices(self, customer: Customer) -> None:
        """Two invoices unpaid: last month's is overdue, this month's is not due yet."""
        subscription = self.renew(self.subscribe(customer, start=self.ago(days=10, months=3), send_invoice_days=30))
        self.settle_sent_invoices(subscription, unpaid=2)

    def _card_fails_at_last_renewal(self, customer: Customer, card: str, *, months: int) -> Invoice:
        subscription = self.subscribe(customer, start=self.ago(days=self.rng.randint(2, 20), months=months))
        self.renew(subscription, leave=1)
        customer_update(customer=customer, default_payment_method=card)
        return self.last_invoice(self.renew(subscription))

    def story_declined(self, customer: Customer) -> None:
        self._card_fails_at_last_renewal(customer, DECLINED_CARD, months=3)

    def story_insufficient_funds(self, customer: Customer) -> None:
        invoice = self._card_fails_at_last_renewal(customer, INSUFFICIENT_FUNDS_CARD, months=2)
        invoice_update(invoice=invoice, retry_policy=self.gentle_policy)

    def story_expired_card(self, customer: Customer) -> None:
        self._card_fails_at_last_renewal(customer, EXPIRED_CARD, months=4)

    def story_fails_once_pending(self, customer: Customer) -> None:
        """Signed up two days ago; the first charge failed and its retry will succeed."""
        self.subscribe(customer, start=self.ago(days=2))

    def story_fails_once_recovered(self, customer: Customer) -> None:
        """The first charge failed, the retry went through."""
        subscription = self.subscribe(customer, start=self.ago(days=6))
        invoice_attempt_payment(invoice=self.last_invoice(subscription))

    def story_unpaid(self, customer: Customer) -> None:
        """Retries ran out (default settings: mark unpaid); the latest period waits as a draft."""
        subscription = self.subscribe(customer, start=self.ago(days=5, months=3))
        self.renew(subscription, leave=2)
        customer_update(customer=customer, default_payment_method=DECLINED_CARD)
        self.renew(subscription, leave=1)
        self.exhaust_retries(self.last_invoice(subscription))
        self.renew(subscription)

    def story_canceled_payment_failed(self, customer: Customer) -> None:
        """Yearly renewal failed on an expired card; the Annual plans policy canceled the
        subscription and the invoice was written off."""
        subscription = self.subscribe(customer, interval=Interval.YEAR, start=self.ago(days=25, years=1))
        self.renew(subscription, leave=1)
        customer_update(customer=customer, default_payment_method=EXPIRED_CARD)
        invoice = self.last_invoice(self.renew(subscription))
        invoice_update(invoice=invoice, retry_policy=self.annual_policy)
        self.exhaust_retries(invoice)
        invoice_mark_uncollectible(invoice=invoice)

    def story_canceled(self, customer: Customer) -> None:
        subscription = self.renew(self.subscribe(customer, start=self.ago(days=12, months=4)))
        subscription_cancel(subscription=subscription, reason="cancellation_requested")

    def story_cancel_at_period_end(self, customer: Customer) -> None:
        subscription = self.renew(self.subscribe(customer, start=self.ago(days=self.rng.randint(5, 25), months=4)))
        subscription_schedule_cancel(subscription=subscription, at_period_end=True)

    def story_cancel_at_period_end_yearly(self, customer: Customer) -> None:
        subscription = self.subscribe(customer, interval=Interval.YEAR, start=self.ago(days=340))
        subscription_schedule_cancel(subscription=self.renew(subscription), at_period_end=True)

    def story_cancel_at_date(self, customer: Customer) -> None:
        """Yearly plan ending early, on a date agreed with the customer."""
        subscription = self.subscribe(customer, interval=Interval.YEAR, start=self.ago(days=100))
        subscription_schedule_cancel(subscription=self.renew(subscription), at=self.now + timedelta(days=40))

    def story_paused(self, customer: Customer) -> None:
        """Collection paused since the start of this period (invoices kept as drafts)."""
        subscription = self.subscribe(customer, start=self.ago(days=12, months=3))
        self.renew(subscription, leave=1)
        subscription_pause_collection(
            subscription=subscription,
            behavior=PauseBehavior.KEEP_AS_DRAFT,
            starts_at=subscription.current_period_end,
            resumes_at=self.now + timedelta(days=20),
        )
        self.renew(subscription)

    def story_pause_scheduled(self, customer: Customer) -> None:
        """A seasonal business pausing for one period from its next renewal."""
        subscription = self.renew(self.subscribe(customer, start=self.ago(days=18, months=3)))
        subscription_pause_collection(
            subscription=subscription,
            behavior=PauseBehavior.VOID,
            starts_at=subscription.current_period_end,
            resumes_at=add_interval(subscription.current_period_end, Interval.MONTH),
        )

    # --- One-off invoices and quotes ---------------------------------------------------

    def onboarding(self, customer: Customer) -> LineItem:
        return LineItem(price=self.price("onboarding", "", customer.currency))

    def hours(self, customer: Customer, hours: int, what: str = "Consulting") -> LineItem:
        rate = self.amount({"EUR": 120, "USD": 130, "GBP": 100}, customer.currency)
        return LineItem(description=f"{what} (hours)", unit_amount=Money(rate, customer.currency), quantity=hours)

    def manual_invoices(self, customers: list[Customer]) -> None:
        """Onboarding and consulting invoices in every status."""
        pool = iter(customers)
        send = CollectionMethod.SEND_INVOICE
        for _ in range(4):  # paid by card
            customer = next(pool)
            invoice = invoice_create(customer=customer, lines=[self.onboarding(customer)], description="Onboarding")
            invoice_attempt_payment(invoice=invoice_finalize(invoice=invoice))
        for reason in ("Duplicate invoice", "Wrong billing address"):
            customer = next(pool)
            invoice = invoice_create(
                customer=customer, lines=[self.onboarding(customer)], collection_method=send, description="Onboarding"
            )
            invoice_finalize(invoice=invoice)
            invoice_update(invoice=invoice, metadata={"void_reason": reason})
            invoice_void(invoice=invoice)
        for hours in (6, 14):  # being prepared
            customer = next(pool)
            invoice_create(
                customer=customer,
                lines=[self.hours(customer, hours), self.hours(customer, 2, "Project management")],
                collection_method=send,
                days_until_due=30,
                description="Consulting this month",
            )
        customer = next(pool)  # overdue manual invoice
        invoice = invoice_create(
            customer=customer,
            lines=[self.hours(customer, 10, "Data migration")],
            collection_method=send,
            due_date=self.now - timedelta(days=12),
            description="Data migration",
        )
        invoice_finalize(invoice=invoice)
        customer = next(pool)  # long overdue, written off after the overdue job flags it
        invoice = invoice_create(
            customer=customer,
            lines=[self.onboarding(customer), self.hours(customer, 8, "Custom integration")],
            collection_method=send,
            due_date=self.now - timedelta(days=75),
            description="Onboarding and integration",
        )
        self.write_offs.append(invoice_finalize(invoice=invoice))

    def quote_lines(self, customer: Customer, *, upgrade: bool) -> list[LineItem]:
        currency = customer.currency
        lines = [LineItem(price=self.price("business", Interval.YEAR, currency))]
        if upgrade:
            lines.append(LineItem(price=self.price("seats", Interval.YEAR, currency), quantity=self.rng.randint(3, 12)))
        else:
            lines.append(self.onboarding(customer))
        return lines

    def quotes(self, *, prospects: list[Customer], existing: list[Customer]) -> None:
        """Quotes in every status; open ones expire in a few days to a few weeks."""
        customers = iter(prospects + existing[-8:])

        def new(customer: Customer, *, expires_in: int | None = None) -> Quote:
            upgrade = customer not in prospects
            return quote_create(
                customer=customer,
                lines=self.quote_lines(customer, upgrade=upgrade),
                expires_at=self.now + timedelta(days=expires_in) if expires_in else None,
                description="Upgrade to Business (annual)" if upgrade else "Business plan (annual) with onboarding",
            )

        new(next(customers), expires_in=30)  # drafts
        new(next(customers))
        for days in (2, 5, 12, 26):  # open
            quote_finalize(quote=new(next(customers), expires_in=days))
        accepted = quote_accept(quote=quote_finalize(quote=new(next(customers), expires_in=21)))
        invoice = invoice_finalize(invoice=accepted.invoice)
        if accepted.customer.default_payment_method:
            invoice_attempt_payment(invoice=invoice)
        quote_accept(quote=quote_finalize(quote=new(next(customers), expires_in=14)))  # invoice left as a draft
        quote_cancel(quote=new(next(customers)), reason="customer_declined")
        quote_cancel(quote=quote_finalize(quote=new(next(customers), expires_in=10)), reason="superseded")


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
        "",
        f"Open {result.url} and log in as:",
    ]
    for login in result.logins:
        extra = ", staff: can use the admin at /admin/" if login.is_staff else ", read-only"
        lines.append(f"  {login.username} / {login.password}    ({login.role}{extra})")
    return "\n".join(lines)
