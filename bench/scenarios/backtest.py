"""Backtest (issue 14): 100,000 recorded invoice events of the last year replayed for an
`invoice.overdue` automation placed 21st, behind 20 automations with a customer-metadata and an
amount filter each, in ≤ 10 s.

25,000 invoices (one customer each, one line with a product) each have four events spread over
the last 360 days: created, finalized, overdue, and paid (half of them, before or after the
tested automation's last step) or marked uncollectible; every customer has its `customer.created`
event (the filters read the metadata it recorded). A tenth of the customers are in the segment
of the 5th automation (which takes their events); the tested automation's own amount filter
leaves out a fifth of the rest. The snapshots have the shape billing records (Stripe's JSON).

The figure is the backtest's task as a worker runs it (`automations.tasks.run_backtest`, 365 days):
from claiming the row to the result saved, in this process.
"""

from datetime import timedelta

from django.utils import timezone
from moneyed import Money

from bench import engine_data as data
from bench.harness import Context, Result, timed

TARGET_SECONDS = 10.0
HIGHER = 20
TAKEN_BY = 5  # the automation a tenth of the customers' segment matches
BATCH = 5000


def _snapshot(invoice, customer, product_id: str, status: str, at, due) -> dict:
    cents = int(invoice.total.amount * 100)
    return {
        "id": invoice.public_id, "object": "invoice", "number": invoice.number, "customer": customer.public_id,
        "customer_email": customer.email, "customer_name": customer.name, "subscription": None,
        "status": status, "billing_reason": "manual", "description": None, "currency": "eur",
        "total": cents, "amount_due": cents, "amount_paid": cents if status == "paid" else 0,
        "amount_remaining": 0 if status == "paid" else cents, "collection_method": "send_invoice",
        "due_date": int(due.timestamp()), "auto_advance": True, "attempt_count": 0, "attempted": False,
        "next_payment_attempt": None, "retry_policy": None, "paid_out_of_band": False,
        "period_start": None, "period_end": None,
        "lines": {"object": "list", "data": [{
            "id": f"il_{invoice.pk}", "object": "line_item", "description": "Subscription", "quantity": 1,
            "amount": cents, "currency": "eur", "product": product_id, "price": None,
            "period": {"start": None, "end": None},
        }]},
        "status_transitions": {"finalized_at": int(at.timestamp()), "paid_at": None, "voided_at": None,
                               "marked_uncollectible_at": None},
        "metadata": {"plan": "pro"}, "created": int(at.timestamp()), "test_clock": None,
    }  # fmt: skip


def make_history(invoices_count: int) -> int:
    """The invoices, their customers and their events, bulk-created; returns the invoice events made."""
    from billing.models import Customer, Event, Invoice, InvoiceLine, Product

    product = Product.objects.get_or_create(name="Bench backtest product")[0]
    now = timezone.now()
    made = 0
    for start in range(0, invoices_count, BATCH):
        n = min(BATCH, invoices_count - start)
        numbers = range(start, start + n)
        customers = Customer.objects.bulk_create(
            Customer(name=f"Bench customer {i}", email=f"c{i}@example.com", currency="EUR", created=now,
                     metadata={"segment": f"s{TAKEN_BY}" if i % 10 == 0 else "none"})
            for i in numbers
        )  # fmt: skip
        amounts = [Money("40.00" if i % 5 == 1 else "240.00", "EUR") for i in numbers]
        invoices = Invoice.objects.bulk_create(
            Invoice(customer=c, status="open", total=amount, amount_paid=Money(0, "EUR"), number=f"BT-{i:07d}",
                    created=now, finalized_at=now, due_date=now)
            for i, c, amount in zip(numbers, customers, amounts, strict=True)
        )  # fmt: skip
        InvoiceLine.objects.bulk_create(
            InvoiceLine(invoice=inv, description="Subscription", quantity=1, unit_amount=inv.total, amount=inv.total,
                        product=product)
            for inv in invoices
        )  # fmt: skip
        events = []
        for i, customer, invoice in zip(numbers, customers, invoices, strict=True):
            created = now - timedelta(days=360) + timedelta(seconds=(i * 1234567) % (300 * 86400))
            due = created + timedelta(days=14)
            events.append(Event(type="customer.created", created=created - timedelta(hours=1), object_type="customer",
                                object_id=customer.public_id, customer_id=customer.public_id,
                                data_object={"id": customer.public_id, "object": "customer",
                                             "metadata": customer.metadata}))  # fmt: skip
            ending = ("invoice.paid", "paid") if i % 2 else ("invoice.marked_uncollectible", "uncollectible")
            ends_after = timedelta(days=3 if i % 4 == 1 else 30)  # before or after the last step (10 days)
            for type, status, at in [
                ("invoice.created", "draft", created),
                ("invoice.finalized", "open", created + timedelta(minutes=1)),
                ("invoice.overdue", "open", due + timedelta(hours=1)),
                (*ending, due + ends_after),
            ]:
                events.append(
                    Event(type=type, created=at, object_type="invoice", object_id=invoice.public_id,
                          customer_id=customer.public_id,
                          data_object=_snapshot(invoice, customer, product.public_id, status, created, due))
                )  # fmt: skip
                made += 1
        Event.objects.bulk_create(events, batch_size=1000)
    return made


def run(ctx: Context) -> list[Result]:
    from automations.models import Backtest
    from automations.tasks import run_backtest

    invoices = 2500 if ctx.quick else 25000
    data.reset()
    for priority in range(1, HIGHER + 1):
        data.make_automation(
            "invoice.overdue", priority, [data.memo("Overdue", 1)],
            [{"type": "customer_metadata", "params": {"key": "segment", "value": f"s{priority}"}},
             {"type": "invoice_amount", "params": {"min": "1.00", "max": "10000.00"}}],
        )  # fmt: skip
    steps = [data.memo("Overdue", 1), data.step("mark_invoice_uncollectible", 4), data.step("void_invoice", 5)]
    tested = data.make_automation(
        "invoice.overdue", HIGHER + 1, steps, [{"type": "invoice_amount", "params": {"min": "100.00", "max": None}}]
    )
    print(f"   {invoices:,} invoices with their customers and events …", flush=True)
    with timed() as made_in:
        events = make_history(invoices)
    print(f"   {events:,} invoice events made in {made_in():.1f} s", flush=True)
    data.analyze()

    version = tested.current_version
    backtest = Backtest.objects.create(
        automation=tested,
        trigger=tested.trigger,
        days=365,
        definition={
            "name": tested.name,
            "version": version.number,
            "filters": version.filters,
            "steps": version.steps,
            "draft": False,
            "place_before": None,
        },
    )  # fmt: skip (queued, as backtest_automation leaves a large one for a worker)
    with timed() as elapsed:
        run_backtest(backtest.pk)
    backtest = Backtest.objects.get(pk=backtest.pk)
    result = backtest.result
    seconds = elapsed()
    print(
        f"   {result['events']:,} events replayed in {seconds:.2f} s ({result['events'] / seconds:,.0f}/s): "
        f"{result['opportunities']['count']:,} overdue, {sum(t['count'] for t in result['taken']):,} taken first, "
        f"{result['not_matched']['count']:,} not matched, {result['started']['count']:,} runs, "
        f"{result['ended_early']['count']:,} ended early",
        flush=True,
    )
    note = (
        f"{result['events']:,} invoice events, 365 days, placed {HIGHER + 1}st behind {HIGHER} automations; "
        f"{result['started']['count']:,} runs, {result['ended_early']['count']:,} ended early"
    )
    return [
        Result("backtest", seconds, "s", TARGET_SECONDS, higher_is_better=False, note=note),
        Result("backtest.rate", result["events"] / seconds, "events/s", note="run_backtest task, in process"),
    ]
