"""Billing services: every state change of a billing object goes through one of these."""

from billing.services.customers import customer_create, customer_update
from billing.services.invoices import (
    LineItem,
    invoice_create,
    invoice_finalize,
    invoice_mark_overdue,
    invoice_mark_paid,
    invoice_mark_uncollectible,
    invoice_recalculate,
    invoice_update,
    invoice_void,
)
from billing.services.payments import invoice_attempt_payment, invoice_retry_payment
from billing.services.quotes import (
    quote_accept,
    quote_cancel,
    quote_create,
    quote_expire_if_due,
    quote_finalize,
    quote_update,
)
from billing.services.subscriptions import (
    subscription_cancel,
    subscription_cancel_if_due,
    subscription_create,
    subscription_mark_active,
    subscription_mark_past_due,
    subscription_mark_unpaid,
    subscription_pause_collection,
    subscription_renew,
    subscription_resume_collection,
    subscription_resume_if_due,
    subscription_schedule_cancel,
    subscription_start_pause_if_due,
    subscription_unschedule_cancel,
    subscription_update,
)

__all__ = [
    "LineItem", "customer_create", "customer_update", "invoice_attempt_payment", "invoice_create",
    "invoice_finalize", "invoice_mark_overdue", "invoice_mark_paid", "invoice_mark_uncollectible",
    "invoice_recalculate", "invoice_retry_payment", "invoice_update", "invoice_void", "quote_accept",
    "quote_cancel", "quote_create", "quote_expire_if_due", "quote_finalize", "quote_update",
    "subscription_cancel", "subscription_cancel_if_due", "subscription_create", "subscription_mark_active",
    "subscription_mark_past_due", "subscription_mark_unpaid", "subscription_pause_collection",
    "subscription_renew", "subscription_resume_collection", "subscription_resume_if_due",
    "subscription_schedule_cancel", "subscription_start_pause_if_due", "subscription_unschedule_cancel",
    "subscription_update",
]
