"""The periodic billing jobs: each handles only what is due, once."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone
from django_q.models import Schedule

from billing import jobs, services
from billing.models import Event, Invoice, PauseBehavior
from billing.services.subscriptions import add_interval
from billing.tasks import run_job
from ops.periodic import register_schedules
from tests.factories import DECLINED_CARD, GOOD_CARD, make_customer, make_invoice, make_price, make_quote

pytestmark = pytest.mark.django_db


def _events(obj, type_):
    return Event.objects.filter(object_id=obj.public_id, type=type_).count()


def _later(**delta):
    return time_machine.travel(timezone.now() + timedelta(**delta), tick=False)


# --- overdue --------------------------------------------------------------------------------


def test_an_open_invoice_past_its_due_date_becomes_overdue_exactly_once():
    invoice = make_invoice(due_date=timezone.now() + timedelta(days=3))
    assert jobs.run_overdue() == 0
    with _later(days=4):
        assert jobs.run_overdue() == 1
        assert jobs.run_overdue() == 0
    invoice.refresh_from_db()
    assert invoice.overdue_at is not None
    assert _events(invoice, "invoice.overdue") == 1


def test_paid_and_undated_invoices_never_become_overdue():
    make_invoice(status="paid", due_date=timezone.now() - timedelta(days=1))
    make_invoice(status="open", due_date=None)
    assert jobs.run_overdue() == 0
    assert not Event.objects.filter(type="invoice.overdue").exists()


def test_the_overdue_job_works_through_several_batches(settings):
    settings.BILLING_JOB_BATCH_SIZE = 3
    invoices = [make_invoice(due_date=timezone.now() - timedelta(hours=1)) for _ in range(8)]
    assert jobs.run_overdue() == 8
    assert Event.objects.filter(type="invoice.overdue").count() == 8
    assert {e.object_id for e in Event.objects.filter(type="invoice.overdue")} == {i.public_id for i in invoices}


# --- renewals -------------------------------------------------------------------------------


def _subscribe(card=GOOD_CARD, interval="month", **kwargs):
    customer = make_customer(default_payment_method=card)
    return services.subscription_create(customer=customer, items=[(make_price(interval=interval), 1)], **kwargs)


def test_a_monthly_subscription_renews_into_a_charged_invoice_for_the_next_period():
    subscription = _subscribe()
    first_end = subscription.current_period_end
    with _later(days=32):
        assert jobs.run_renewals() == 1
        assert jobs.run_renewals() == 0
    subscription.refresh_from_db()
    assert subscription.current_period_start == first_end
    assert subscription.current_period_end == add_interval(first_end, "month")
    renewal = subscription.invoices.get(billing_reason="subscription_cycle")
    assert renewal.status == "paid"
    assert (renewal.period_start, renewal.period_end) == (first_end, subscription.current_period_end)


def test_a_yearly_subscription_is_not_renewed_before_its_year_ends():
    subscription = _subscribe(interval="year")
    with _later(days=200):
        assert jobs.run_renewals() == 0
    with _later(days=367):
        assert jobs.run_renewals() == 1
    assert subscription.invoices.count() == 2


def test_a_send_invoice_subscription_renews_into_an_open_invoice_with_a_due_date():
    subscription = _subscribe(collection_method="send_invoice", days_until_due=15)
    with _later(days=32):
        jobs.run_renewals()
        renewal = subscription.invoices.get(billing_reason="subscription_cycle")
        assert renewal.status == "open"
        assert renewal.due_date == timezone.now() + timedelta(days=15)
        assert renewal.attempt_count == 0


def test_an_unpaid_subscription_keeps_invoicing_but_leaves_its_invoices_in_draft():
    subscription = _subscribe(card=DECLINED_CARD)
    services.subscription_mark_unpaid(subscription=subscription)
    with _later(days=32):
        jobs.run_renewals()
    renewal = subscription.invoices.get(billing_reason="subscription_cycle")
    assert renewal.status == "draft" and renewal.auto_advance is False


@pytest.mark.parametrize(
    ("behavior", "status"),
    [
        (PauseBehavior.KEEP_AS_DRAFT, "draft"),
        (PauseBehavior.VOID, "void"),
        (PauseBehavior.MARK_UNCOLLECTIBLE, "uncollectible"),
    ],
)
def test_a_paused_subscription_invoices_as_its_pause_behaviour_says(behavior, status):
    subscription = _subscribe()
    services.subscription_pause_collection(subscription=subscription, behavior=behavior)
    with _later(days=32):
        jobs.run_renewals()
    assert subscription.invoices.get(billing_reason="subscription_cycle").status == status


def test_a_subscription_scheduled_to_cancel_at_period_end_is_canceled_not_renewed():
    subscription = _subscribe()
    services.subscription_schedule_cancel(subscription=subscription, at_period_end=True)
    with _later(days=32):
        for job in jobs.JOBS.values():
            job()
    subscription.refresh_from_db()
    assert subscription.status == "canceled"
    assert subscription.invoices.count() == 1
    assert _events(subscription, "customer.subscription.deleted") == 1


# --- scheduled cancellations, pauses --------------------------------------------------------


def test_a_cancellation_scheduled_at_a_date_happens_at_that_date_once():
    subscription = _subscribe()
    services.subscription_schedule_cancel(subscription=subscription, at=timezone.now() + timedelta(days=5))
    with _later(days=4):
        assert jobs.run_scheduled_cancellations() == 0
    with _later(days=6):
        assert jobs.run_scheduled_cancellations() == 1
        assert jobs.run_scheduled_cancellations() == 0
    subscription.refresh_from_db()
    assert subscription.status == "canceled" and subscription.cancellation_reason == "cancellation_requested"


def test_an_unscheduled_cancellation_does_not_happen():
    subscription = _subscribe()
    services.subscription_schedule_cancel(subscription=subscription, at=timezone.now() + timedelta(days=5))
    services.subscription_unschedule_cancel(subscription=subscription)
    with _later(days=6):
        assert jobs.run_scheduled_cancellations() == 0
    subscription.refresh_from_db()
    assert subscription.status == "active"
    event = Event.objects.filter(object_id=subscription.public_id, type="customer.subscription.updated").first()
    assert event.previous_attributes["cancel_at"] is not None and event.data_object["cancel_at"] is None


def test_a_scheduled_pause_starts_and_resumes_at_its_times():
    subscription = _subscribe()
    now = timezone.now()
    services.subscription_pause_collection(
        subscription=subscription, starts_at=now + timedelta(days=2), resumes_at=now + timedelta(days=9)
    )
    subscription.refresh_from_db()
    assert subscription.status == "active"
    with _later(days=3):
        assert jobs.run_pauses() == 1
        subscription.refresh_from_db()
        assert subscription.status == "paused"
    with _later(days=10):
        assert jobs.run_pauses() == 1
        assert jobs.run_pauses() == 0
    subscription.refresh_from_db()
    assert subscription.status == "active" and subscription.pause_starts_at is None


def test_a_pause_withdrawn_before_it_starts_never_starts():
    subscription = _subscribe()
    services.subscription_pause_collection(subscription=subscription, starts_at=timezone.now() + timedelta(days=2))
    services.subscription_resume_collection(subscription=subscription)
    with _later(days=3):
        assert jobs.run_pauses() == 0
    subscription.refresh_from_db()
    assert subscription.status == "active"


# --- quotes ---------------------------------------------------------------------------------


def test_an_open_quote_past_its_expiry_is_canceled_as_expired_once():
    quote = make_quote(status="open", expires_at=timezone.now() + timedelta(days=1))
    accepted = make_quote(status="accepted", expires_at=timezone.now() + timedelta(days=1))
    with _later(days=2):
        assert jobs.run_quote_expiry() == 1
        assert jobs.run_quote_expiry() == 0
    quote.refresh_from_db()
    accepted.refresh_from_db()
    assert (quote.status, quote.cancellation_reason) == ("canceled", "expired")
    assert accepted.status == "accepted"
    assert _events(quote, "quote.canceled") == 1


def test_accepting_a_quote_drafts_an_invoice_with_its_lines():
    quote = make_quote(status="open", amount="750.00")
    quote = services.quote_accept(quote=quote)
    invoice = Invoice.objects.get(pk=quote.invoice_id)
    assert invoice.status == "draft" and invoice.total == quote.total and invoice.billing_reason == "quote_accept"


# --- schedules and the task entry point -------------------------------------------------------


def test_registering_the_schedules_twice_keeps_one_schedule_per_job():
    register_schedules()
    register_schedules()
    names = set(Schedule.objects.values_list("name", flat=True))
    assert names == {f"billing:{name}" for name in jobs.JOBS} | {
        "notifications:sweep",
        "automations:sweep",
        "api:idempotency_purge",
    }
    assert all(s.func == "billing.tasks.run_job" for s in Schedule.objects.filter(name__startswith="billing:"))


def test_a_schedule_no_longer_declared_is_removed():
    Schedule.objects.create(name="billing:gone", func="billing.tasks.run_job", args="('gone',)")
    Schedule.objects.create(name="someone-else", func="x.y")
    register_schedules()
    names = set(Schedule.objects.values_list("name", flat=True))
    assert "billing:gone" not in names and "someone-else" in names


def test_the_task_runs_a_job_by_name():
    make_invoice(due_date=timezone.now() - timedelta(days=1))
    assert run_job("overdue") == 1


def test_adding_months_clamps_to_the_end_of_shorter_months():
    assert add_interval(datetime(2026, 1, 31, tzinfo=UTC), "month") == datetime(2026, 2, 28, tzinfo=UTC)
    assert add_interval(datetime(2028, 1, 31, tzinfo=UTC), "month") == datetime(2028, 2, 29, tzinfo=UTC)
    assert add_interval(datetime(2026, 12, 15, tzinfo=UTC), "month") == datetime(2027, 1, 15, tzinfo=UTC)
    assert add_interval(datetime(2028, 2, 29, tzinfo=UTC), "year") == datetime(2029, 2, 28, tzinfo=UTC)


def test_django_q2_scheduler_runs_the_registered_billing_jobs():
    """The schedule rows are valid for django-q2: its scheduler turns them into job runs."""
    from django_q.scheduler import scheduler

    register_schedules()
    invoice = make_invoice(due_date=timezone.now() - timedelta(days=1))
    Schedule.objects.update(next_run=timezone.now() - timedelta(seconds=1))
    scheduler()  # sync mode in tests: each due schedule's task runs right here
    assert _events(invoice, "invoice.overdue") == 1
    assert all(s.next_run > timezone.now() for s in Schedule.objects.all())


def test_a_pause_starting_at_the_period_end_applies_to_the_renewal_of_that_period():
    subscription = _subscribe()
    boundary = subscription.current_period_end
    services.subscription_pause_collection(
        subscription=subscription, behavior=PauseBehavior.VOID, starts_at=boundary,
        resumes_at=add_interval(boundary, "month"),
    )  # fmt: skip
    with time_machine.travel(boundary + timedelta(minutes=1), tick=False):
        for job in jobs.JOBS.values():
            job()
    assert subscription.invoices.get(billing_reason="subscription_cycle").status == "void"
    with time_machine.travel(add_interval(boundary, "month") + timedelta(minutes=1), tick=False):
        for job in jobs.JOBS.values():
            job()
    subscription.refresh_from_db()
    assert subscription.status == "active"
    latest = subscription.invoices.filter(billing_reason="subscription_cycle").order_by("-id").first()
    assert latest.status == "paid"


def test_the_overdue_sweep_flags_a_batch_with_a_bounded_number_of_queries(django_assert_max_num_queries):
    from billing.models import Event

    past = timezone.now() - timedelta(hours=1)
    invoices = [make_invoice(due_date=past) for _ in range(30)]
    with django_assert_max_num_queries(20):
        assert jobs.run_overdue() == 30
    assert Event.objects.filter(type="invoice.overdue").count() == 30
    for invoice in invoices:
        invoice.refresh_from_db()
        assert invoice.overdue_at is not None
        event = Event.objects.get(type="invoice.overdue", object_id=invoice.public_id)
        assert event.data_object["lines"]["data"], "the snapshot carries the prefetched lines"
    assert jobs.run_overdue() == 0


def test_the_engine_hears_a_swept_batch_once_it_commits(django_capture_on_commit_callbacks):
    from automations.models import Run
    from tests.automations.test_engine import VOID, automation

    automation("invoice.overdue", [VOID])
    past = timezone.now() - timedelta(hours=1)
    invoices = [make_invoice(due_date=past) for _ in range(3)]
    with django_capture_on_commit_callbacks(execute=True):
        jobs.run_overdue()
    assert set(Run.objects.values_list("object_id", flat=True)) == {i.public_id for i in invoices}


def test_a_swept_batch_is_queued_to_the_webhook_endpoints_subscribed_to_it(settings):
    from notifications.models import WebhookDelivery
    from notifications.services.endpoints import endpoint_create

    settings.WEBHOOK_ALLOWED_HOSTS = ["203.0.113.10"]
    endpoint_create(url="https://203.0.113.10/hook", enabled_events=["invoice.overdue"])
    endpoint_create(url="https://203.0.113.10/other", enabled_events=["invoice.paid"])
    past = timezone.now() - timedelta(hours=1)
    for _ in range(3):
        make_invoice(due_date=past)
    assert jobs.run_overdue() == 3
    deliveries = WebhookDelivery.objects.filter(event_type="invoice.overdue")
    assert deliveries.count() == 3
    assert WebhookDelivery.objects.count() == 3
    assert {d.endpoint.url for d in deliveries} == {"https://203.0.113.10/hook"}
