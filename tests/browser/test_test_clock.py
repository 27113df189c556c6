"""Test clocks in the browser: rehearse the annual dunning recipe on a clock and read what it did on
the run's timeline, at simulated times; a clock's page follows an advance live.

The live server commits for real and django-q2 runs synchronously in tests, so an advance is walked
within the request that asks for it: the page it redirects to shows the clock ready.
"""

import re
from datetime import UTC, datetime, timedelta

from playwright.sync_api import expect

from automations.models import Automation, Run, RunStatus, StepStatus
from billing.models import AdvanceStatus, ClockAdvance, InvoiceStatus, Subscription, SubscriptionStatus, TestClock
from billing.models import TestClockStatus as ClockStatus
from billing.services.test_clocks import clock_create
from tests.browser.conftest import log_in
from tests.browser.screens import screenshot
from tests.browser.test_accessibility import axe_violations
from tests.factories import DECLINED_CARD, make_price

START = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
SECOND = "%Y-%m-%d %H:%M:%S"


def executed(moment: datetime) -> re.Pattern:
    return re.compile(rf"Executed\s*{moment:{SECOND}}")


def build_annual_dunning(page) -> Automation:
    """The recipe, in the builder (as tests/browser/test_dashboard.py builds it), with a new retry
    policy of 3 retries within 21 days that leaves the subscription past due."""
    page.goto("/automations/new/")
    page.get_by_label("Name", exact=True).fill("Annual subscriber dunning")
    page.get_by_role("radio", name="Subscription payment fails").check()
    page.get_by_label("Condition", exact=True).select_option(label="Subscription interval")
    page.get_by_role("button", name="Add condition").click()
    page.get_by_label("Subscription interval", exact=True).select_option("year")

    if page.get_by_label("Step 1 action").count() == 0:
        page.get_by_role("button", name="Add step").click()
    page.get_by_label("Step 1 action").select_option(label="Set retry policy")
    page.get_by_role("radio", name="A new policy").check()
    page.get_by_label("Step 1 policy name").fill("Annual: 3 retries within 21 days")
    page.get_by_label("Step 1 schedule").select_option("within_days")
    page.get_by_label("Step 1 retries").fill("3")
    page.get_by_label("Step 1 within days").fill("21")
    page.get_by_label("Step 1 after the last retry").select_option("leave_past_due")

    page.get_by_role("button", name="Add step").click()
    page.get_by_label("Step 2 action").select_option(label="Cancel subscription")
    page.get_by_label("Step 2 delay", exact=True).fill("7")
    page.get_by_label("Step 2 delay unit").select_option("days")

    page.get_by_role("button", name="Add step").click()
    page.get_by_label("Step 3 action").select_option(label="Mark invoice uncollectible")
    page.get_by_label("Step 3 delay", exact=True).fill("0")
    page.get_by_label("Step 3 delay", exact=True).press("Tab")  # a change refreshes the live summary
    expect(page.get_by_role("region", name="Summary")).to_contain_text(
        "When a subscription payment fails, for yearly subscriptions: start retry policy "
        "Annual: 3 retries within 21 days"
    )
    page.get_by_role("button", name="Save automation").click()
    page.wait_for_url(re.compile(r"/automations/auto_\w+/"))
    automation = Automation.objects.get(name="Annual subscriber dunning")
    steps = automation.current_version.steps
    assert [(s["action"], s["delay"]["amount"]) for s in steps] == [
        ("set_retry_policy", 0),
        ("cancel_subscription", 7),
        ("mark_invoice_uncollectible", 0),
    ]
    assert steps[0]["params"]["new_policy"]["max_retries"] == 3
    return automation


def test_an_editor_rehearses_annual_dunning_on_a_test_clock_and_reads_the_runs_timeline(page, editor):
    price = make_price("1200.00", interval="year", name="Pro plan (yearly)")
    log_in(page, "eddie", "pw-eddie")
    automation = build_annual_dunning(page)

    # A clock, from the list's "New test clock" form.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Test clocks").click()
    expect(page.get_by_text("No test clocks yet.")).to_be_visible()
    page.get_by_label("Name", exact=True).fill("Dunning rehearsal")
    page.get_by_label("Start time (UTC)").fill(START.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="New test clock").click()
    page.wait_for_url(re.compile(r"/test-clocks/clock_\w+/$"))
    test_clock = TestClock.objects.get()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Dunning rehearsal")
    expect(page.locator("#clock-status")).to_contain_text("2025-01-06 09:00 UTC")

    # A customer on it, with the declining card and the yearly subscription.
    page.get_by_label("Name", exact=True).fill("Clocked Ltd")
    page.get_by_label("Email").fill("billing@clocked.example")
    page.get_by_label("Test card").select_option(DECLINED_CARD)
    page.get_by_label("Subscribe to").select_option(price.public_id)
    page.get_by_role("button", name="Add customer").click()
    customers = page.get_by_role("region", name=re.compile("^Customers"))
    expect(customers).to_contain_text("Clocked Ltd")
    expect(customers).to_contain_text("Past due")  # the first payment failed at the clock's time
    run = Run.objects.get(automation=automation)
    assert run.started_at == START and run.test_clock_id == test_clock.public_id

    # Advance 40 days.
    page.get_by_label("Advance to (UTC)").fill((START + timedelta(days=40)).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Advance", exact=True).click()
    expect(page.locator("#clock-status")).to_contain_text("2025-02-15 09:00 UTC")
    expect(page.locator("#clock-status")).to_contain_text("Ready")
    assert ClockAdvance.objects.get().status == AdvanceStatus.SUCCEEDED
    history = page.locator("[data-history]").first
    expect(history).to_contain_text("Advance 1: 2025-01-06 09:00 → 2025-02-15 09:00 UTC")
    expect(history).to_contain_text("Cancel subscription")
    expect(history).to_contain_text("invoice.marked_uncollectible")
    history.scroll_into_view_if_needed()
    screenshot(page, "test-clock")
    assert axe_violations(page) == []

    # The run's timeline: the retries, the wait, the cancellation and the write-off, at simulated times.
    history.get_by_role("link", name=run.public_id).first.click()
    page.wait_for_url(f"**/runs/{run.public_id}/")
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED
    steps = list(run.steps.order_by("position"))
    assert [s.status for s in steps] == [StepStatus.SUCCEEDED] * 3
    subscription = Subscription.objects.get()
    invoice = subscription.invoices.get()
    attempts = list(invoice.payment_attempts.order_by("created"))
    assert len(attempts) == 4 and START < attempts[3].created <= START + timedelta(days=21)
    assert subscription.status == SubscriptionStatus.CANCELED and invoice.status == InvoiceStatus.UNCOLLECTIBLE

    main = page.locator("main")
    expect(main).to_contain_text("every time on this page is simulated")
    payments = page.get_by_role("region", name="Payment attempts on the invoice")
    expect(payments.locator("tbody tr")).to_have_count(4)
    expect(payments.locator('[data-attempt="1"]')).to_contain_text(f"First attempt {START:{SECOND}}")
    for n, attempt in enumerate(attempts[1:], start=1):
        expect(payments.locator(f'[data-attempt="{n + 1}"]')).to_contain_text(f"Retry {n} {attempt.created:{SECOND}}")
        expect(payments.locator(f'[data-attempt="{n + 1}"]')).to_contain_text("Failed")

    timeline = page.get_by_role("region", name="Timeline")
    retry_step, cancel_step, write_off = (timeline.locator(f'[data-step="{n}"]') for n in (1, 2, 3))
    # The policy step waited for the last retry to fail, then the run went on.
    assert attempts[3].created <= steps[0].executed_at <= attempts[3].created + timedelta(minutes=5)
    expect(retry_step).to_contain_text("Set retry policy")
    expect(retry_step).to_contain_text(executed(steps[0].executed_at))
    # The wait: 7 days after the policy was exhausted.
    assert steps[1].executed_at == steps[0].executed_at + timedelta(days=7)
    expect(cancel_step).to_contain_text("7 days after the previous step")
    expect(cancel_step).to_contain_text(executed(steps[1].executed_at))
    expect(write_off).to_contain_text("Mark invoice uncollectible")
    expect(write_off).to_contain_text(executed(steps[2].executed_at))
    assert subscription.canceled_at == steps[1].executed_at
    assert invoice.marked_uncollectible_at == steps[2].executed_at
    screenshot(page, "test-clock-run")


def test_a_clocks_page_follows_an_advance_live_and_stops_polling_when_it_is_ready(page, viewer):
    test_clock = clock_create(name="Live", frozen_time=START)
    ClockAdvance.objects.create(test_clock=test_clock, from_time=START, to_time=START + timedelta(days=40))
    TestClock.objects.filter(pk=test_clock.pk).update(
        status=ClockStatus.ADVANCING, frozen_time=START + timedelta(days=10)
    )
    log_in(page, "vera", "pw-vera")
    page.goto(f"/test-clocks/{test_clock.public_id}/")
    status = page.locator("#clock-status")
    expect(status.locator("progress")).to_have_attribute("value", "25")
    expect(status).to_contain_text("25%")
    assert axe_violations(page) == []

    # A worker moves the clock on: the page polls and shows it.
    TestClock.objects.filter(pk=test_clock.pk).update(frozen_time=START + timedelta(days=30))
    expect(status.locator("progress")).to_have_attribute("value", "75")
    expect(status).to_contain_text("2025-02-05 09:00 UTC")

    # The advance is over: the page reloads once, shows the clock ready and polls no more.
    ClockAdvance.objects.update(status=AdvanceStatus.SUCCEEDED)
    TestClock.objects.filter(pk=test_clock.pk).update(status=ClockStatus.READY, frozen_time=START + timedelta(days=40))
    expect(page.locator("#clock-status")).to_contain_text("Ready", timeout=5_000)
    expect(page.locator("#clock-status progress")).to_have_count(0)
    expect(page.locator("[hx-trigger]")).to_have_count(0)
