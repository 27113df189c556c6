"""The issue's six browser journeys, in Debian's Chromium against the live server.

The live server commits for real and the test settings run django-q2 synchronously, so a billing
transition made in the page starts its automation run before the page reloads.
"""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from automations.engine.matching import in_priority_order
from automations.models import Automation, Run, RunStatus
from automations.services.definitions import automation_create
from billing import services
from billing.models import RetryPolicy
from tests.browser.conftest import log_in
from tests.browser.screens import screenshot
from tests.factories import make_customer, make_invoice, make_subscription

CHASE = [{"action": "void_invoice", "delay": {"amount": 3, "unit": "days"}, "params": {}}]


def _overdue_automation(name: str, user=None) -> Automation:
    return automation_create(name=name, trigger="invoice.overdue", filters=[], steps=CHASE, user=user)


def _make_overdue(invoice) -> None:
    """The overdue job's transition, committed (the engine starts the run on commit)."""
    services.invoice_update(invoice=invoice, due_date=timezone.now() - timedelta(days=1))
    services.invoice_mark_overdue(invoice=invoice)


def _order(page, trigger_slug: str) -> list[str]:
    rows = page.locator(f"#trigger-{trigger_slug} tr[data-automation]")
    return [rows.nth(i).get_attribute("data-automation") for i in range(rows.count())]


def test_an_editor_presses_n_and_builds_annual_subscriber_dunning(page, editor):
    RetryPolicy.objects.create(name="Annual", max_retries=3, within_days=14)
    make_subscription(customer=make_customer())  # a product to offer; not needed by this automation
    log_in(page, "eddie", "pw-eddie")

    page.goto("/invoices/")
    page.keyboard.press("n")
    page.wait_for_url("**/automations/new/")

    page.get_by_label("Name", exact=True).fill("Annual subscriber dunning")
    page.get_by_role("radio", name="Subscription payment fails").check()
    page.get_by_label("Condition", exact=True).select_option(label="Subscription interval")
    page.get_by_role("button", name="Add condition").click()
    page.get_by_label("Subscription interval", exact=True).select_option("year")

    if page.get_by_label("Step 1 action").count() == 0:
        page.get_by_role("button", name="Add step").click()
    page.get_by_label("Step 1 action").select_option(label="Set retry policy")
    page.get_by_label("Step 1 retry policy").select_option("Annual")

    page.get_by_role("button", name="Add step").click()
    page.get_by_label("Step 2 action").select_option(label="Cancel subscription")
    page.get_by_label("Step 2 delay", exact=True).fill("7")
    page.get_by_label("Step 2 delay unit").select_option("days")

    page.get_by_role("button", name="Add step").click()
    page.get_by_label("Step 3 action").select_option(label="Mark invoice uncollectible")
    page.get_by_label("Step 3 delay", exact=True).fill("0")
    page.get_by_label("Step 3 delay", exact=True).press("Tab")  # a change refreshes the live summary

    expect(page.get_by_role("region", name="Summary")).to_contain_text(
        "When a subscription payment fails, for yearly subscriptions: start retry policy Annual, "
        "wait 7 days, cancel the subscription, mark the invoice uncollectible"
    )
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "builder")
    page.get_by_role("button", name="Save automation").click()

    page.wait_for_url(re.compile(r"/automations/auto_\w+/$"))
    automation = Automation.objects.get(name="Annual subscriber dunning")
    version = automation.current_version
    assert automation.trigger == "subscription.payment_failed"
    assert version.filters == [{"type": "subscription_interval", "params": {"interval": "year"}}]
    assert [(s["action"], s["delay"]) for s in version.steps] == [
        ("set_retry_policy", {"amount": 0, "unit": "days"}),
        ("cancel_subscription", {"amount": 7, "unit": "days"}),
        ("mark_invoice_uncollectible", {"amount": 0, "unit": "days"}),
    ]
    assert version.steps[0]["params"] == {"policy": "Annual"}

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Automations").click()
    row = page.locator(f'#trigger-subscription-payment_failed tr[data-automation="{automation.public_id}"]')
    expect(row).to_contain_text("Annual subscriber dunning")
    expect(row.get_by_role("button", name="Enabled: Annual subscriber dunning")).to_have_attribute(
        "aria-pressed", "true"
    )


def test_saving_an_invalid_automation_shows_the_errors_next_to_the_fields(page, editor):
    log_in(page, "eddie", "pw-eddie")
    page.goto("/automations/new/")
    page.get_by_role("radio", name="Invoice is overdue").check()
    if page.get_by_label("Step 1 action").count() == 0:
        page.get_by_role("button", name="Add step").click()
    page.get_by_label("Step 1 action").select_option(label="Send email to a team member")
    page.get_by_role("button", name="Save automation").click()

    expect(page.get_by_role("alert").first).to_contain_text(re.compile(r"Fix the (\d+ problems|problem) below"))
    name = page.get_by_label("Name", exact=True)
    expect(name).to_have_attribute("aria-invalid", "true")
    name_error = page.locator(f"#{name.get_attribute('aria-describedby').split()[0]}")
    expect(name_error).to_contain_text("Enter a name.")
    recipient = page.get_by_label("Step 1 recipient")
    expect(recipient).to_have_attribute("aria-invalid", "true")
    expect(page.locator(f"#{recipient.get_attribute('aria-describedby').split()[0]}")).to_contain_text(
        "team member's email address"
    )
    assert not Automation.objects.exists()


def test_dragging_the_third_automation_to_the_top_keeps_the_order_and_the_engine_picks_it_first(page, editor):
    first, second, third = (_overdue_automation(n, editor) for n in ("First chase", "Second chase", "Third chase"))
    log_in(page, "eddie", "pw-eddie")
    page.goto("/automations/")
    assert _order(page, "invoice-overdue") == [first.public_id, second.public_id, third.public_id]

    handle = page.locator(f'tr[data-automation="{third.public_id}"] .drag-handle')
    with page.expect_response(lambda r: r.url.endswith("/automations/reorder/") and r.status == 200):
        handle.drag_to(page.locator(f'tr[data-automation="{first.public_id}"]'), target_position={"x": 10, "y": 2})
    page.reload()
    assert _order(page, "invoice-overdue") == [third.public_id, first.public_id, second.public_id]
    screenshot(page, "automations")
    assert [a.public_id for a in in_priority_order("invoice.overdue")][0] == third.public_id

    invoice = make_invoice()
    _make_overdue(invoice)
    assert Run.objects.get(object_id=invoice.public_id).automation == third


def test_turning_off_an_automation_with_active_runs_and_cancelling_them_all(page, editor):
    chase = _overdue_automation("Chase overdue", editor)
    for _ in range(2):
        _make_overdue(make_invoice())
    assert Run.objects.filter(automation=chase, status=RunStatus.ACTIVE).count() == 2
    log_in(page, "eddie", "pw-eddie")
    page.goto("/automations/")

    page.get_by_role("button", name="Enabled: Chase overdue").click()
    dialog = page.locator("dialog#toggle-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("button", name="Let 2 runs finish")).to_be_focused()
    dialog.get_by_role("button", name="Cancel all 2 runs now").click()

    expect(page.get_by_role("button", name="Enabled: Chase overdue")).to_have_attribute("aria-pressed", "false")
    chase.refresh_from_db()
    assert chase.enabled is False
    assert set(Run.objects.filter(automation=chase).values_list("status", flat=True)) == {RunStatus.CANCELED}

    page.goto(f"/automations/{chase.public_id}/?status=canceled")
    expect(page.locator("#results tr[data-run]")).to_have_count(2)


def test_making_an_invoice_overdue_in_the_page_starts_a_run_shown_on_the_invoice_and_the_automation(page, editor):
    chase = _overdue_automation("Chase overdue", editor)
    invoice = make_invoice(customer=make_customer(name="Ada Lovelace"), due_date=timezone.now() + timedelta(days=5))
    log_in(page, "eddie", "pw-eddie")
    page.goto(f"/invoices/{invoice.public_id}/")
    expect(page.get_by_role("button", name="Mark overdue")).to_have_count(0)

    page.get_by_role("button", name="Change due date").click()
    dialog = page.get_by_role("dialog", name="Change due date")
    yesterday = timezone.localtime() - timedelta(days=1)
    dialog.get_by_label("Due date").fill(yesterday.strftime("%Y-%m-%dT%H:%M"))
    dialog.get_by_role("button", name="Save due date").click()
    page.get_by_role("button", name="Mark overdue").click()

    runs = page.get_by_role("region", name="Automation runs")
    expect(runs).to_contain_text("Chase overdue")
    run = Run.objects.get(object_id=invoice.public_id)
    expect(runs).to_contain_text(run.public_id)
    expect(page.locator("main")).to_contain_text(f"started run {run.public_id}")
    runs.evaluate("el => el.scrollIntoView({block: 'start'})")
    screenshot(page, "invoice")

    page.goto(f"/automations/{chase.public_id}/")
    expect(page.locator(f'#results tr[data-run="{run.public_id}"]')).to_contain_text("Active")


@pytest.mark.parametrize("username", ["vera"])
def test_a_viewer_finds_no_way_to_change_anything(page, viewer, editor, username):
    chase = _overdue_automation("Chase overdue", editor)
    invoice = make_invoice()
    _make_overdue(invoice)
    run = Run.objects.get(object_id=invoice.public_id)
    subscription = make_subscription(customer=make_customer())
    RetryPolicy.objects.create(name="Annual", max_retries=3, within_days=14)
    log_in(page, username, "pw-vera")

    pages = [
        "/",
        "/automations/",
        f"/automations/{chase.public_id}/",
        f"/automations/{chase.public_id}/runs/{run.public_id}/",
        "/invoices/",
        f"/invoices/{invoice.public_id}/",
        f"/subscriptions/{subscription.public_id}/",
        f"/customers/{invoice.customer.public_id}/",
        "/settings/",
        "/settings/retry-policies/",
        "/settings/exchange-rates/",
        "/settings/team/",
        "/settings/emails/",
        "/settings/api-keys/",
    ]
    for path in pages:
        page.goto(path)
        main = page.locator("main")
        expect(main).to_be_visible()
        assert main.locator("form[method=post], form[method=POST]").count() == 0, path
        assert main.locator("[hx-post], [hx-put], [hx-delete], [hx-patch]").count() == 0, path
        for name in ("New automation", "Edit", "Cancel run", "Void invoice", "Save"):
            assert main.get_by_role("button", name=name).count() == 0, (path, name)
            assert main.get_by_role("link", name=name, exact=True).count() == 0, (path, name)

    page.goto("/automations/")
    page.keyboard.press("n")
    page.wait_for_timeout(300)
    assert page.url.endswith("/automations/")
    assert page.goto("/automations/new/").status == 403
    assert page.goto(f"/automations/{chase.public_id}/edit/").status == 403
