"""Scenario 6b, the Django admin at the same scale as `pages`: the changelists of invoices,
customers, subscriptions, events and runs, each listed, filtered and searched, render in
p95 ≤ 100 ms (results `pages.admin_<model>_<list|filter|search>`).

Measured as `pages` does (in-process test client, DEBUG off, warm-up, then 50 timed requests),
logged in as a superuser.
"""

from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from bench import data
from bench.harness import Context, Result
from bench.scenarios.pages import SEARCH, measure

TARGET_MS = 100.0


def _superuser_client() -> Client:
    user = User.objects.filter(username="bench-admin").first() or User.objects.create_superuser(
        "bench-admin", "bench-admin@team.example", None
    )
    client = Client(SERVER_NAME="localhost")
    client.force_login(user)
    return client


def _pages() -> dict[str, str]:
    from billing.models import Event

    def changelist(app_model: str) -> str:
        return reverse(f"admin:{app_model}_changelist")

    customer_id = Event.objects.order_by("id").values_list("customer_id", flat=True).first()
    return {
        "admin_invoices_list": changelist("billing_invoice"),
        "admin_invoices_filter": changelist("billing_invoice") + "?status__exact=open",
        "admin_invoices_search": changelist("billing_invoice") + f"?q={SEARCH}",
        "admin_customers_list": changelist("billing_customer"),
        "admin_customers_filter": changelist("billing_customer") + "?currency__exact=USD",
        "admin_customers_search": changelist("billing_customer") + f"?q={SEARCH}",
        "admin_subscriptions_list": changelist("billing_subscription"),
        "admin_subscriptions_filter": changelist("billing_subscription") + "?status__exact=past_due",
        "admin_subscriptions_search": changelist("billing_subscription") + f"?q={SEARCH}",
        "admin_events_list": changelist("billing_event"),
        "admin_events_filter": changelist("billing_event") + "?type__exact=invoice.overdue",
        "admin_events_search": changelist("billing_event") + f"?q={customer_id}",
        "admin_runs_list": changelist("automations_run"),
        "admin_runs_filter": changelist("automations_run") + "?status__exact=active",
        "admin_runs_search": changelist("automations_run") + "?q=enterprise",
    }


def run(ctx: Context) -> list[Result]:
    size = data.ensure_dataset(ctx.quick)
    return measure(_superuser_client(), _pages(), target_ms=TARGET_MS, size=size)
