"""The dry run in the browser (issue 14): the invoice page loads "Which automation would run?",
and the builder tries its unsaved draft on an invoice found by its customer's name (Enter in the
search box searches, it never saves the draft); the answer follows the draft as it is edited."""

from playwright.sync_api import expect

from automations.models import Automation
from automations.services.definitions import automation_create
from tests.browser.conftest import log_in
from tests.browser.test_accessibility import axe_violations
from tests.factories import make_customer, make_invoice

OVERDUE = "invoice.overdue"
VOID = [{"action": "void_invoice", "delay": {"amount": 3, "unit": "days"}, "params": {}}]


def test_the_invoice_page_says_which_automation_would_run(page, viewer):
    automation_create(name="Chase", trigger=OVERDUE, filters=[], steps=VOID)
    invoice = make_invoice(customer=make_customer(name="Ada Lovelace"))
    log_in(page, "vera", "pw-vera")

    page.goto(f"/invoices/{invoice.public_id}/")

    panel = page.locator("#dry-run-panel")
    expect(panel).to_contain_text("“Chase” would start.")
    expect(panel).to_contain_text("Invoice is finalized")
    assert axe_violations(page) == []
    page.get_by_role("link", name="Open the dry run as a page").click()
    expect(page.get_by_role("heading", name="Which automation would run?")).to_be_visible()
    assert axe_violations(page) == []


def test_an_editor_tries_the_draft_on_an_invoice_before_saving(page, editor):
    automation_create(
        name="Large only", trigger=OVERDUE, filters=[{"type": "invoice_amount", "params": {"min": "1000"}}], steps=VOID
    )
    make_invoice(amount="120.00", customer=make_customer(name="Ada Lovelace"))
    log_in(page, "eddie", "pw-eddie")
    page.goto("/automations/new/")
    page.get_by_label("Name", exact=True).fill("Mine")
    page.get_by_role("radio", name="Invoice is overdue").check()
    if page.get_by_label("Step 1 action").count() == 0:
        page.get_by_role("button", name="Add step").click()
    page.get_by_label("Step 1 action").select_option(label="Void invoice")
    expect(page.get_by_text("This action has no settings.")).to_be_visible()

    search = page.get_by_label("Find an invoice")
    search.fill("lovelace")
    search.press("Enter")  # searches: the draft is not saved
    try_button = page.get_by_role("button", name="Try this draft on")
    expect(try_button).to_have_count(1)
    assert "/automations/new/" in page.url and not Automation.objects.filter(name="Mine").exists()

    try_button.click()

    result = page.locator("#dry-run-result")
    expect(result).to_contain_text("This draft would start.")
    expect(result).to_contain_text("Large only")
    expect(result).to_contain_text("does not hold")
    expect(page.locator("#dry-run-result-title")).to_be_focused()
    assert axe_violations(page) == []

    # The answer follows the draft as it is edited: a condition the invoice does not meet.
    page.get_by_label("Condition", exact=True).select_option(label="Invoice amount")
    page.get_by_role("button", name="Add condition").click()
    expect(result).to_contain_text("Complete the draft to see how it would run on this invoice.")
    page.get_by_label("Minimum amount").fill("500")
    page.get_by_label("Minimum amount").blur()
    expect(result).to_contain_text("No run would start: no automation matches.")
    expect(result).to_contain_text("invoice amount at least 500.00 EUR")
    assert not Automation.objects.filter(name="Mine").exists()
