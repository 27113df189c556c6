"""Scenario 6, pages: with 1,000,000 invoices and 100,000 runs, the automations list, an
automation's runs page, the invoice list (filtered, and searched) and an invoice detail page
render in p95 ≤ 50 ms.

Server time: Django's test client in-process (no network, no browser), logged in as an editor,
time around `client.get`; a few warm-up requests, then 50 timed requests per page. DEBUG is off
while measuring, as in production (no SQL logging, cached templates). The note adds the Python
process's own CPU time per request (p50): on a shared machine the wall time also holds the
waits for a core, and the database's time is in its own process.
"""

import time

from django.contrib.auth.models import Group, User
from django.test import Client, override_settings
from django.urls import reverse

from bench import data
from bench.harness import Context, Result, percentile, timed

TARGET_MS = 50.0
REQUESTS = 50
WARMUP = 3
SEARCH = "hopper"  # a surname: 1 customer in 25 has it, so ~4% of the invoices match


def _editor_client() -> Client:
    from frame.permissions import EDITORS

    user, _ = User.objects.get_or_create(username="bench-editor", defaults={"email": "bench-editor@team.example"})
    user.groups.add(Group.objects.get_or_create(name=EDITORS)[0])
    client = Client(SERVER_NAME="localhost")
    client.force_login(user)
    return client


def _pages() -> dict[str, str]:
    from automations.models import Automation, Run

    busiest = Automation.objects.filter(name__endswith="(bench)").order_by("priority").first()
    run = Run.objects.filter(automation=busiest, status="active").order_by("-started_at").first()
    return {
        "automations_list": reverse("automations"),
        "automation_runs": reverse("automation_detail", args=[busiest.public_id]),
        "invoices_filtered": reverse("invoices") + "?status=overdue",
        "invoices_searched": reverse("invoices") + f"?q={SEARCH}",
        "invoice_detail": reverse("invoice_detail", args=[run.object_id]),
    }


def measure(client: Client, pages: dict[str, str], *, target_ms: float, size: data.Sizes) -> list[Result]:
    """Warm up, then time REQUESTS requests of each page with DEBUG off; one `pages.<name>` p95 each."""
    results = []
    with override_settings(DEBUG=False):
        for name, url in pages.items():
            for _ in range(WARMUP):
                response = client.get(url)
                if response.status_code != 200:
                    print(f"  {name}: {url} answered {response.status_code}", flush=True)
            times, cpu = [], []
            for _ in range(REQUESTS):
                started = time.process_time()
                with timed() as elapsed:
                    client.get(url)
                times.append(elapsed() * 1000)
                cpu.append((time.process_time() - started) * 1000)
            p50, p95, cpu50 = percentile(times, 50), percentile(times, 95), percentile(cpu, 50)
            print(
                f"  {name}: p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {max(times):.1f} ms, "
                f"this process's CPU p50 {cpu50:.1f} ms  ({url})",
                flush=True,
            )
            results.append(
                Result(
                    f"pages.{name}",
                    p95,
                    "ms",
                    target=target_ms,
                    higher_is_better=False,
                    note=f"p50 {p50:.0f} ms, CPU p50 {cpu50:.0f} ms; {size.invoices:,} invoices, {size.runs:,} runs",
                )
            )
    return results


def run(ctx: Context) -> list[Result]:
    size = data.ensure_dataset(ctx.quick)
    return measure(_editor_client(), _pages(), target_ms=TARGET_MS, size=size)
