"""Issue 16 end to end: a customer on a declining card gets the automation's email (read in the
email log), opens its link with no login, enters a good card, and the invoice is paid; the run
ends, and the recovery analytics count the recovery under that automation."""

import re

from playwright.sync_api import expect

from automations.engine.dispatch import dispatch_due
from automations.models import Run
from automations.services.definitions import automation_create
from billing import services
from billing.models import Invoice
from tests.browser.conftest import log_in, watch_for_script_problems
from tests.browser.test_accessibility import axe_violations
from tests.factories import DECLINED_CARD, make_price

PAYMENT_FAILED = "subscription.payment_failed"
EMAIL_THE_CUSTOMER = {"action": "email_customer", "delay": {"amount": 0, "unit": "minutes"}, "params": {}}
VOID_LATER = {"action": "void_invoice", "delay": {"amount": 14, "unit": "days"}, "params": {}}


def test_a_customer_pays_a_failed_invoice_from_the_email_and_the_recovery_is_counted(
    page, browser, live_server, editor, settings
):
    settings.RELANCE_BASE_URL = live_server.url
    automation = automation_create(
        name="Win back", trigger=PAYMENT_FAILED, filters=[], steps=[EMAIL_THE_CUSTOMER, VOID_LATER]
    )
    customer = services.customer_create(
        name="Ada Lovelace", email="ada@example.com", currency="EUR", default_payment_method=DECLINED_CARD
    )
    subscription = services.subscription_create(customer=customer, items=[(make_price("49.00"), 1)])
    invoice = Invoice.objects.get(subscription=subscription)
    assert invoice.status == "open"
    run = Run.objects.get(automation=automation, object_id=invoice.public_id)
    assert dispatch_due() == 1  # the email step; the run waits for the next one

    # The team reads the email in the email log.
    log_in(page, "eddie", "pw-eddie")
    page.goto("/settings/emails/")
    page.get_by_role("link", name=f"Your payment for invoice {invoice.number} failed").click()
    text = page.locator(".email-text").inner_text()
    assert "Hello Ada Lovelace," in text
    link = re.search(r"https?://\S+/pay/[^/\s]+/", text).group(0)

    # The customer opens the link: no login, a page of its own, accessible, no JavaScript needed.
    context = browser.new_context(java_script_enabled=False)
    try:
        customer_page = context.new_page()
        customer_page.set_default_timeout(10_000)
        problems = watch_for_script_problems(customer_page)
        customer_page.goto(link)
        expect(customer_page.get_by_role("heading", name=f"Invoice {invoice.number}")).to_be_visible()
        expect(customer_page.locator("#amount-due")).to_have_text("€49.00")
        expect(customer_page.get_by_text("Your card was declined.")).to_be_visible()
        customer_page.get_by_role("radio", name=re.compile(r"^Succeeds")).check()
        customer_page.get_by_role("button", name="Pay now").click()
        expect(customer_page.get_by_text("your payment went through and the invoice is paid")).to_be_visible()
        expect(customer_page.locator("#invoice-status")).to_have_text("Paid")
        expect(customer_page.get_by_role("button", name="Pay now")).to_have_count(0)
        assert problems == []
    finally:
        context.close()

    # Accessibility of the payment page, with axe (it needs JavaScript to run).
    page.goto(link)
    assert axe_violations(page) == []

    invoice.refresh_from_db()
    run.refresh_from_db()
    assert invoice.status == "paid"
    assert run.status == "ended" and "paid" in run.reason

    # The analytics page counts the recovery under the automation.
    page.goto("/analytics/")
    row = page.locator("section[aria-labelledby='automation-heading'] tbody tr", has_text="Win back")
    expect(row).to_have_count(1)
    expect(row.locator("td").nth(1)).to_have_text("1")
    assert axe_violations(page) == []


def test_an_editor_previews_the_customer_email_on_a_real_invoice_in_the_builder(page, editor):
    customer = services.customer_create(
        name="Ada Lovelace", email="ada@example.com", currency="EUR", default_payment_method=DECLINED_CARD
    )
    subscription = services.subscription_create(customer=customer, items=[(make_price("49.00"), 1)])
    invoice = Invoice.objects.get(subscription=subscription)
    log_in(page, "eddie", "pw-eddie")
    page.goto("/automations/new/")
    page.get_by_label("Name", exact=True).fill("Win back")
    page.get_by_role("radio", name="Subscription payment fails").check()
    if page.get_by_label("Step 1 action").count() == 0:
        page.get_by_role("button", name="Add step").click()
    page.get_by_label("Step 1 action").select_option(label="Email the customer")
    page.get_by_label("Step 1 email subject").fill("{customer}, invoice {number} needs a new card")
    page.get_by_label("Step 1 email subject").blur()
    page.get_by_label("Preview with invoice").fill(invoice.number)
    page.get_by_role("button", name="Preview").click()

    preview = page.locator("#step-0-preview")
    expect(preview).to_contain_text(f"Ada Lovelace, invoice {invoice.number} needs a new card")
    expect(preview).to_contain_text("We could not collect the payment of €49.00")  # the default body
    assert "/automations/new/" in page.url
    assert axe_violations(page) == []
