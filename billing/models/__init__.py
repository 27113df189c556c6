from billing.models.account import AccountSettings
from billing.models.catalog import Interval, Price, Product
from billing.models.clocks import AdvanceStatus, ClockAdvance, TestClock, TestClockStatus
from billing.models.customers import Customer, Locale
from billing.models.events import Event, EventType
from billing.models.hosted import PaymentPageSubmission
from billing.models.invoices import BillingReason, Invoice, InvoiceItem, InvoiceLine, InvoiceStatus
from billing.models.payments import DeclineType, PaymentAttempt, PaymentOutcome
from billing.models.quotes import Quote, QuoteLine, QuoteStatus
from billing.models.retries import EndBehavior, RetryPolicy, ScheduleKind
from billing.models.subscriptions import (
    CollectionMethod,
    PauseBehavior,
    Subscription,
    SubscriptionItem,
    SubscriptionStatus,
)

__all__ = [
    "AccountSettings",
    "AdvanceStatus",
    "ClockAdvance",
    "BillingReason",
    "CollectionMethod",
    "Customer",
    "DeclineType",
    "EndBehavior",
    "Event",
    "EventType",
    "Interval",
    "Invoice",
    "InvoiceItem",
    "InvoiceLine",
    "InvoiceStatus",
    "Locale",
    "PauseBehavior",
    "PaymentAttempt",
    "PaymentOutcome",
    "PaymentPageSubmission",
    "Price",
    "Product",
    "Quote",
    "QuoteLine",
    "QuoteStatus",
    "RetryPolicy",
    "ScheduleKind",
    "Subscription",
    "SubscriptionItem",
    "SubscriptionStatus",
    "TestClock",
    "TestClockStatus",
]
