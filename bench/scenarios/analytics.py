"""Scenario 10, analytics (issue 16): the recovery analytics page for the last 30, 90 and 365 days,
with 1,000,000 invoices and 100,000 runs, renders in p95 ≤ 200 ms; and an automation's page with
its recovery panel.

The shared dataset (bench/data.py) has no failed payments: for the time of the scenario, about
6.6% of its invoices get a failed payment attempt one day after they were created (hard and soft
declines alternating) and their `first_failed_at`: 1 in 25 paid invoices (recovered 9 days later),
a quarter of the void and uncollectible ones (lost) and a quarter of the open overdue ones (still
failing). Everything is put back afterwards (the attempts carry a failure code of their own), so
the dataset stays as the other scenarios expect.

Server time: Django's test client in-process, logged in as an editor, as the pages scenario does;
DEBUG off while measuring.
"""

from django.db import connection, transaction
from django.test import override_settings
from django.urls import reverse

from bench import data
from bench.harness import Context, Result, percentile, timed
from bench.scenarios.pages import _editor_client

TARGET_MS = 200.0
PANEL_TARGET_MS = 100.0  # the automation's page, as in the pages scenario
REQUESTS = 30
WARMUP = 3
MARK = "bench_analytics"  # the failure code of the attempts this scenario adds

FAILURES = f"""
    INSERT INTO billing_paymentattempt (public_id, invoice_id, created, attempt_number, amount_currency, amount,
                                        payment_method, outcome, failure_code, decline_type, message)
    SELECT 'pa_' || substr(md5('{MARK}' || i.id), 1, 20), i.id, i.created + interval '1 day', 1,
           i.total_currency, i.total, '4000000000000002', 'failed', '{MARK}',
           CASE WHEN i.id % 2 = 0 THEN 'soft' ELSE 'hard' END, 'Your card was declined.'
    FROM billing_invoice i
    WHERE (i.status = 'paid' AND i.id % 25 = 1)
       OR (i.status IN ('void', 'uncollectible') AND (i.id / 100) % 4 = 0)
       OR (i.status = 'open' AND i.overdue_at IS NOT NULL AND (i.id / 100) % 4 = 0)
"""
MARK_INVOICES = f"""
    UPDATE billing_invoice i SET first_failed_at = a.created
    FROM billing_paymentattempt a WHERE a.invoice_id = i.id AND a.failure_code = '{MARK}'
"""
UNMARK_INVOICES = f"""
    UPDATE billing_invoice SET first_failed_at = NULL
    WHERE id IN (SELECT invoice_id FROM billing_paymentattempt WHERE failure_code = '{MARK}')
"""


def _vacuum() -> None:
    with connection.cursor() as cursor:
        for table in ("billing_invoice", "billing_paymentattempt"):
            cursor.execute(f"VACUUM ANALYZE {table}")


def _add_failures() -> int:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(FAILURES)
        count = cursor.rowcount
        cursor.execute(MARK_INVOICES)
    _vacuum()
    return count


def _clean_up() -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(UNMARK_INVOICES)
        cursor.execute(f"DELETE FROM billing_paymentattempt WHERE failure_code = '{MARK}'")
    _vacuum()


def _measure(client, url: str) -> tuple[float, float, float]:
    for _ in range(WARMUP):
        response = client.get(url)
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}")
    times = []
    for _ in range(REQUESTS):
        with timed() as elapsed:
            client.get(url)
        times.append(elapsed() * 1000)
    p50, p95 = percentile(times, 50), percentile(times, 95)
    print(f"  {url}: p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {max(times):.1f} ms", flush=True)
    return p50, p95, max(times)


def run(ctx: Context) -> list[Result]:
    from automations.models import Automation

    size = data.ensure_dataset(ctx.quick)
    _clean_up()  # a run stopped half-way may have left its failures
    client = _editor_client()
    results = []
    try:
        failures = _add_failures()
        print(f"  {failures:,} invoices with a failed payment for the time of the scenario", flush=True)
        with override_settings(DEBUG=False):
            for days in (30, 90, 365):
                p50, p95, _ = _measure(client, f"{reverse('analytics')}?days={days}")
                results.append(
                    Result(
                        f"analytics.page_{days}_days",
                        p95,
                        "ms",
                        target=TARGET_MS,
                        higher_is_better=False,
                        note=f"p50 {p50:.0f} ms; {size.invoices:,} invoices ({failures:,} failed), {size.runs:,} runs",
                    )
                )
            busiest = Automation.objects.filter(name__endswith="(bench)").order_by("priority").first()
            p50, p95, _ = _measure(client, reverse("automation_detail", args=[busiest.public_id]))
            results.append(
                Result(
                    "analytics.automation_page_with_panel",
                    p95,
                    "ms",
                    target=PANEL_TARGET_MS,
                    higher_is_better=False,
                    note=f"p50 {p50:.0f} ms; the runs page with its 30-day recovery panel",
                )
            )
    finally:
        _clean_up()
    return results
