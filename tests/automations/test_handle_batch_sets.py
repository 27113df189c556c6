"""The batch path's set-based parts (issue 17): the checks made once per distinct value the
filters read (`matching.Matcher`), and the one-statement write on PostgreSQL
(`batch_writes`), give what handling the events one by one gives; a conflict in that write
still rolls the batch back and hands its events to the single path."""

import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from automations.engine import batch_writes, handling, matching
from automations.engine.handling import handle_batch, handle_event
from automations.models import HandledEvent, MatchingRecord, Run, RunStep
from billing import jobs, services
from billing.models import AccountSettings, Event, InvoiceLine, Product
from billing.services.exchange_rates import exchange_rate_set
from tests.automations.test_engine import VOID, automation
from tests.automations.test_handle_batch import BEFORE_DUE, THREE_STEPS, _forget, _past_due, _state
from tests.factories import make_customer, make_invoice

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_tasks(monkeypatch):
    """Events are recorded, not handled at commit: each test handles them itself."""
    monkeypatch.setattr("automations.queue.async_task", lambda *args, **kwargs: None)


def _metadata(value) -> dict:
    return {} if value is None else {"segment": value}


def _mixed_scenario() -> list[int]:
    """Overdue invoices that read the same values (shared checks) and different ones: amounts in
    and out of range, converted or without a rate, metadata values that are equal but print
    differently (1, True, "1"), invoice metadata, products (a filter checked per object)."""
    exchange_rate_set(currency="USD", value="2")
    product = Product.objects.create(name="Support plan")
    automation(
        "invoice.overdue", THREE_STEPS, name="Big enterprise",
        filters=[
            {"type": "invoice_amount", "params": {"min": "1000.00", "max": None}},
            {"type": "customer_metadata", "params": {"key": "segment", "value": "enterprise"}},
        ],
    )  # fmt: skip
    automation(
        "invoice.overdue", [VOID], name="Tagged",
        filters=[{"type": "invoice_metadata", "params": {"key": "chase", "value": "yes"}}],
    )  # fmt: skip
    automation(
        "invoice.overdue", THREE_STEPS, name="Segment one",
        filters=[{"type": "customer_metadata", "params": {"key": "segment", "value": "1"}}],
    )  # fmt: skip
    automation(
        "invoice.overdue", THREE_STEPS, name="Product",
        filters=[{"type": "product", "params": {"products": [product.public_id]}}],
    )  # fmt: skip
    automation(
        "invoice.overdue", [VOID], name="Middle",
        filters=[{"type": "invoice_amount", "params": {"min": "100.00", "max": "200.00"}}],
    )  # fmt: skip
    amounts = [("1500.00", "EUR"), ("1500.00", "EUR"), ("600.00", "USD"), ("150.00", "EUR"), ("5000.00", "GBP")]
    segments = ["enterprise", "enterprise", 1, True, "1", None, 'quote " backslash \\ é']
    for i in range(42):
        amount, currency = amounts[i % len(amounts)]
        customer = make_customer(currency=currency, metadata=_metadata(segments[i % len(segments)]))
        invoice = _past_due(amount=amount, currency=currency, customer=customer,
                            metadata={"chase": "yes"} if i % 7 == 0 else {})  # fmt: skip
        if i % 4 == 0:
            InvoiceLine.objects.filter(invoice=invoice).update(product=product)
    jobs.run_overdue()
    now = timezone.now()
    automation("invoice.due_date_upcoming", BEFORE_DUE, name="Before due")
    for due in (now + timedelta(days=10), now - timedelta(days=2)):  # one run with every step's time passed
        draft = make_invoice(status="draft", collection_method="send_invoice", due_date=due)
        services.invoice_finalize(invoice=draft)
    return list(Event.objects.order_by("pk").values_list("pk", flat=True))


def test_a_batch_of_mixed_objects_starts_and_records_what_one_by_one_does():
    events = _mixed_scenario()
    assert sum(handle_event(event_id) for event_id in events) == len(events)
    one_by_one = _state()
    _forget()
    assert handle_batch(events) == len(events)
    assert _state() == one_by_one
    outcomes = Counter(outcome for _, outcome, _ in one_by_one["handlings"].values())
    assert {"started a run of Big enterprise", "started a run of Segment one", "started a run of Product",
            "started a run of Middle", "started a run of Tagged", "no automation matched"} <= set(outcomes)  # fmt: skip
    found = {check.get("found") for checks, _, _ in one_by_one["handlings"].values() for check in checks}
    assert {"segment = 1", "segment = True", "not set"} <= found  # equal keys that print differently stay apart
    assert 'segment = quote " backslash \\ é' in found
    assert any("no exchange rate" in str(value) for value in found)
    assert Run.objects.filter(status="completed", reason="every step's time had already passed").count() == 1


def test_objects_that_read_the_same_values_are_checked_once(monkeypatch):
    automation(
        "invoice.overdue", [VOID], name="Enterprise",
        filters=[
            {"type": "invoice_amount", "params": {"min": "1.00", "max": "10000.00"}},
            {"type": "customer_metadata", "params": {"key": "segment", "value": "enterprise"}},
        ],
    )  # fmt: skip
    automation("invoice.overdue", THREE_STEPS, name="Anyone")
    for i in range(20):
        _past_due(amount="120.00", customer=make_customer(metadata={"segment": "smb" if i % 2 else "enterprise"}))
    jobs.run_overdue()
    events = list(Event.objects.values_list("pk", flat=True))
    real, calls = matching.check_automation, []

    def counted(automation, obj, **kwargs):
        calls.append(automation.name)
        return real(automation, obj, **kwargs)

    monkeypatch.setattr(matching, "check_automation", counted)
    assert handle_batch(events) == 20
    # Two distinct sets of values: enterprise (matched by the first), smb (the first, then the second).
    assert Counter(calls) == {"Enterprise": 2, "Anyone": 1}
    records = MatchingRecord.objects.all()
    assert len(records) == 20 and RunStep.objects.count() == 10 + 3 * 10
    assert Counter(record.outcome for record in records) == {
        "started a run of Enterprise": 10, "started a run of Anyone": 10,
    }  # fmt: skip
    assert all(len(record.checks) == (1 if "Enterprise" in record.outcome else 2) for record in records)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)  # the batch's transaction is its own: the setting ends with it
def test_the_checks_are_stored_with_lz4_in_the_batch_and_read_back_whole():
    automation("invoice.overdue", THREE_STEPS, name="long name " * 19, filters=[
        {"type": "customer_metadata", "params": {"key": "segment", "value": "nobody"}},
    ])  # fmt: skip
    for _ in range(40):
        automation("invoice.overdue", [VOID], name="x" * 150, filters=[
            {"type": "customer_metadata", "params": {"key": "segment", "value": "nobody"}},
        ])  # fmt: skip
    _past_due()
    jobs.run_overdue()
    assert handle_batch(list(Event.objects.values_list("pk", flat=True))) == 1
    record = MatchingRecord.objects.get()
    assert len(record.checks) == 41 and record.outcome == "no automation matched"
    with connection.cursor() as cursor:
        cursor.execute("SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'")
        if not cursor.fetchone()[0]:
            pytest.skip("this PostgreSQL has no lz4")
        cursor.execute(f"SELECT pg_column_compression(checks) FROM {MatchingRecord._meta.db_table}")  # noqa: S608
        assert cursor.fetchone()[0] == "lz4"
        cursor.execute("SHOW default_toast_compression")
        assert cursor.fetchone()[0] == "pglz"  # for the batch's transaction only


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_event_handled_by_another_worker_during_the_write_sends_the_batch_one_by_one(monkeypatch):
    AccountSettings.load()  # made before: the batch's first read would create it, and lock out the other worker
    automation("invoice.overdue", THREE_STEPS)
    for _ in range(10):
        _past_due()
    jobs.run_overdue()
    events = list(Event.objects.order_by("pk").values_list("pk", flat=True))
    real, single = batch_writes.write, []

    def raced(runs, records, batch, *, now):
        other = threading.Thread(target=lambda: (handle_event(events[3]), connection.close()))
        other.start()  # another worker handles one event of the batch and commits first
        other.join(timeout=60)
        real(runs, records, batch, now=now)

    monkeypatch.setattr(batch_writes, "write", raced)
    real_one = handling._handle_one
    monkeypatch.setattr(handling, "_handle_one", lambda event_id: single.append(event_id) or real_one(event_id))
    assert handle_batch(events) == len(events) - 1  # the other worker's is not counted here
    assert single == events  # the write failed on the unique constraint: one by one, in order
    assert Counter(Run.objects.values_list("event_id", flat=True)) == Counter(dict.fromkeys(events, 1))
    assert HandledEvent.objects.count() == MatchingRecord.objects.count() == len(events)
    assert RunStep.objects.count() == 3 * len(events)
