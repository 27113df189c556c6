"""The batch path (`handle_batch`, the overdue sweep's tasks) does what handling the events one by
one does: the same runs, steps, matching records and handled markers, in a bounded number of
queries; already handled events are skipped, and concurrent handling still starts one run."""

import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection
from django.utils import timezone

from automations import tasks
from automations.engine import handling
from automations.engine.handling import handle_batch, handle_event
from automations.models import HandledEvent, MatchingRecord, Run, RunStep
from billing import jobs, services
from billing.models import Event, InvoiceLine, Product
from billing.services.exchange_rates import exchange_rate_set
from tests.automations.test_engine import VOID, automation
from tests.factories import make_customer, make_invoice

pytestmark = pytest.mark.django_db

MEMO = {"recipient": "eddie@relance.example", "message": "{number} is overdue"}
THREE_STEPS = [
    {"action": "send_team_email", "delay": {"amount": 1, "unit": "days"}, "params": MEMO},
    {"action": "mark_invoice_uncollectible", "delay": {"amount": 7, "unit": "days"}, "params": {}},
    {"action": "void_invoice", "delay": {"amount": 30, "unit": "days"}, "params": {}},
]
BEFORE_DUE = [
    {"action": "send_team_email", "delay": {"amount": 3, "unit": "days", "direction": "before"}, "params": MEMO},
    {"action": "send_team_email", "delay": {"amount": 1, "unit": "days", "direction": "after"}, "params": MEMO},
]


@pytest.fixture(autouse=True)
def _no_tasks(monkeypatch):
    """Events are recorded, not handled at commit: each test handles them itself."""
    monkeypatch.setattr("automations.queue.async_task", lambda *args, **kwargs: None)


def _past_due(**fields):
    return make_invoice(due_date=timezone.now() - timedelta(days=1), **fields)


def _overdue_automations(product: Product) -> None:
    automation(
        "invoice.overdue", THREE_STEPS, name="Big",
        filters=[{"type": "invoice_amount", "params": {"min": "1000.00", "max": None}}],
    )  # fmt: skip
    automation(
        "invoice.overdue",
        THREE_STEPS,
        name="Product",
        filters=[{"type": "product", "params": {"products": [product.public_id]}}],
    )
    automation(
        "invoice.overdue", [VOID], name="Enterprise",
        filters=[{"type": "customer_metadata", "params": {"key": "segment", "value": "enterprise"}}],
    )  # fmt: skip
    automation(
        "invoice.overdue", [VOID], name="Tagged",
        filters=[{"type": "invoice_metadata", "params": {"key": "chase", "value": "yes"}}],
    )  # fmt: skip


def _scenario() -> list[int]:
    """Overdue events of every kind of match (amount converted or without a rate, product,
    metadata, none), a payment ending one of their runs, and finalized invoices starting a
    relative and an anchored run (one with its due date already past)."""
    exchange_rate_set(currency="USD", value="2")
    product = Product.objects.create(name="Support plan")
    _overdue_automations(product)
    automation("invoice.finalized", [VOID], name="Finalized")
    automation("invoice.due_date_upcoming", BEFORE_DUE, name="Before due")
    _past_due(amount="2000.00")  # Big
    _past_due(amount="3000.00", currency="USD")  # 1,500 EUR: Big
    _past_due(amount="600.00", currency="USD")  # 300 EUR: nothing
    _past_due(amount="5000.00", currency="GBP")  # no GBP rate: nothing
    with_product = _past_due(amount="50.00")
    InvoiceLine.objects.filter(invoice=with_product).update(product=product)
    _past_due(customer=make_customer(metadata={"segment": "enterprise"}))
    paid = _past_due(metadata={"chase": "yes"})
    _past_due()  # nothing matches
    jobs.run_overdue()
    services.invoice_mark_paid(invoice=paid)  # ends the run its overdue event started
    now = timezone.now()
    for due in (now + timedelta(days=10), now - timedelta(days=2)):
        draft = make_invoice(status="draft", collection_method="send_invoice", due_date=due)
        services.invoice_finalize(invoice=draft)
    return list(Event.objects.order_by("pk").values_list("pk", flat=True))


def _state() -> dict:
    """What the engine wrote, without ids and times of handling."""
    runs = {
        (r.event_id, r.trigger): (
            r.automation.name,
            r.version_id,
            r.object_type,
            r.object_id,
            r.anchor_at,
            r.status,
            r.reason,
            r.finished_at is None,
        )  # fmt: skip
        for r in Run.objects.select_related("automation")
    }
    steps = sorted(
        (
            s.run.event_id,
            s.run.trigger,
            s.position,
            s.action,
            str(s.params),
            str(s.delay),
            s.scheduled_at,
            s.status,
            s.error,
        )
        for s in RunStep.objects.select_related("run")
    )
    handlings = {
        (h.event_id, h.trigger): (h.checks, h.outcome, h.run and (h.run.event_id, h.run.trigger))
        for h in MatchingRecord.objects.select_related("run")
    }
    handled = set(HandledEvent.objects.values_list("event_id", flat=True))
    return {"runs": runs, "steps": steps, "handlings": handlings, "handled": handled}


def _forget() -> None:
    MatchingRecord.objects.all().delete()
    HandledEvent.objects.all().delete()
    RunStep.objects.all().delete()
    Run.objects.all().delete()


def test_a_batch_starts_what_handling_the_events_one_by_one_starts():
    events = _scenario()
    assert Counter(Event.objects.values_list("type", flat=True)) == Counter(
        {"invoice.overdue": 8, "invoice.paid": 1, "invoice.finalized": 2}
    )
    assert sum(handle_event(event_id) for event_id in events) == len(events)
    one_by_one = _state()
    _forget()
    assert handle_batch(events) == len(events)
    batched = _state()
    assert batched == one_by_one
    # What the scenario was meant to exercise did happen.
    outcomes = Counter(outcome for _, outcome, _ in batched["handlings"].values())
    assert outcomes["started a run of Big"] == 2 and outcomes["started a run of Product"] == 1
    assert outcomes["no automation matched"] == 3
    assert any("no exchange rate" in str(checks) for checks, _, _ in batched["handlings"].values())
    # The invoice paid before its overdue event was handled starts no run, in both paths.
    assert outcomes["not started: invoice already paid"] == 1
    statuses = Counter(status for _, _, _, _, _, status, _, _ in batched["runs"].values())
    assert statuses == {"active": 7, "completed": 1}  # 4 overdue, 2 finalized, 1 due date active; 1 past due
    assert {s[7] for s in batched["steps"]} == {"pending", "skipped"}


def test_the_overdue_sweeps_task_handles_its_batch_in_one_pass(monkeypatch):
    events = _scenario()
    overdue = list(Event.objects.filter(type="invoice.overdue").values_list("pk", flat=True))
    single = []
    monkeypatch.setattr(handling, "handle_event", lambda event_id: single.append(event_id) or True)
    assert tasks.handle_events(overdue) == len(overdue)
    assert single == []  # no event of the batch went through the single path
    assert HandledEvent.objects.count() == len(overdue) and Run.objects.count() == 4  # not the paid one's
    assert set(events) > set(overdue)


def test_already_handled_events_are_skipped():
    events = _scenario()
    first = events[:3]
    for event_id in first:
        handle_event(event_id)
    before = _state()
    assert handle_batch(events) == len(events) - 3
    assert handle_batch(events) == 0
    after = _state()
    assert Counter(Run.objects.values_list("event_id", "trigger")).most_common(1)[0][1] == 1
    assert {k: v for k, v in after["runs"].items() if k[0] in first} == before["runs"]
    assert after["handled"] == set(events)


def test_a_conflict_rolls_the_batch_back_and_handles_its_events_one_by_one(monkeypatch):
    events = _scenario()
    overdue = list(Event.objects.filter(type="invoice.overdue").values_list("pk", flat=True))
    real = handling._start_all

    def concurrent(batch):
        real(batch)
        raise IntegrityError("duplicate key value violates unique constraint")  # as if another worker won

    monkeypatch.setattr(handling, "_start_all", concurrent)
    assert handle_batch(overdue) == len(overdue)
    assert Run.objects.count() == 4 == len(set(Run.objects.values_list("event_id", flat=True)))
    assert HandledEvent.objects.count() == len(overdue) and MatchingRecord.objects.count() == len(overdue)
    assert set(events) > set(overdue)


def test_a_batch_of_fifty_events_takes_a_bounded_number_of_queries(django_assert_max_num_queries):
    exchange_rate_set(currency="USD", value="2")
    product = Product.objects.create(name="Support plan")
    _overdue_automations(product)
    for i in range(50):
        invoice = _past_due(amount="1500.00" if i % 2 else "40.00", currency="USD" if i % 3 else "EUR")
        if i % 5 == 0:
            InvoiceLine.objects.filter(invoice=invoice).update(product=product)
    jobs.run_overdue()
    events = list(Event.objects.filter(type="invoice.overdue").values_list("pk", flat=True))
    assert len(events) == 50
    with django_assert_max_num_queries(20):
        assert handle_batch(events) == 50
    assert HandledEvent.objects.count() == 50 and MatchingRecord.objects.count() == 50
    assert Run.objects.count() == RunStep.objects.count() / 3 > 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_batches_and_single_events_handled_concurrently_start_one_run_per_event():
    automation("invoice.overdue", THREE_STEPS)
    for _ in range(30):
        _past_due()
    jobs.run_overdue()
    events = list(Event.objects.filter(type="invoice.overdue").order_by("pk").values_list("pk", flat=True))
    barrier = threading.Barrier(4)
    results, errors = [], []

    def work(kind: int):
        try:
            barrier.wait()
            if kind == 0:  # one by one, newest first
                results.extend(int(handle_event(event_id)) for event_id in reversed(events))
            else:  # overlapping batches, in different orders
                chunk = events[kind * 5 :] + events[: kind * 5]
                results.append(handle_batch(chunk))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(kind,)) for kind in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert sum(results) == len(events)
    assert Counter(Run.objects.values_list("event_id", flat=True)) == Counter(dict.fromkeys(events, 1))
    assert MatchingRecord.objects.count() == len(events) and HandledEvent.objects.count() == len(events)
    assert RunStep.objects.count() == 3 * len(events)


def test_events_that_only_end_runs_end_them_in_one_pass_with_each_events_reason(django_assert_max_num_queries):
    automation("invoice.overdue", THREE_STEPS, name="Chase")
    invoices = [_past_due() for _ in range(6)]
    jobs.run_overdue()
    assert handle_batch(list(Event.objects.values_list("pk", flat=True))) == 6
    assert Run.objects.filter(status="active").count() == 6
    paid, voided, untouched = invoices[:2], invoices[2:4], invoices[4:]
    for invoice in paid:
        services.invoice_mark_paid(invoice=invoice)
    for invoice in voided:
        services.invoice_void(invoice=invoice)
    ends = list(Event.objects.filter(type__in=["invoice.paid", "invoice.voided"]).values_list("pk", flat=True))
    # Read the events, the handled marks and the runs once; two writes per run ended; one insert.
    with django_assert_max_num_queries(6 + 2 * len(ends)):
        assert handle_batch(ends) == 4
    runs = {r.object_id: r for r in Run.objects.all()}
    for invoice in paid:
        assert (runs[invoice.public_id].status, runs[invoice.public_id].reason) == ("ended", "invoice paid")
    for invoice in voided:
        assert (runs[invoice.public_id].status, runs[invoice.public_id].reason) == ("ended", "invoice voided")
    assert all(runs[invoice.public_id].status == "active" for invoice in untouched)
    ended_steps = RunStep.objects.filter(run__status="ended")
    assert set(ended_steps.values_list("status", flat=True)) == {"canceled"}
    assert HandledEvent.objects.filter(event_id__in=ends).count() == 4


def test_a_batch_keeps_the_order_of_starts_and_ends_on_one_object():
    automation("invoice.overdue", THREE_STEPS, name="Chase")
    invoice = _past_due()
    jobs.run_overdue()
    services.invoice_mark_paid(invoice=invoice)  # paid before the overdue event is handled
    events = list(Event.objects.order_by("pk").values_list("pk", flat=True))
    assert handle_batch(events) == len(events)
    assert not Run.objects.exists()
    assert MatchingRecord.objects.get().outcome == "not started: invoice already paid"
