"""Branding in a real browser: an editor sets the business name and accent colour in the settings
(the page passes axe), and a French customer's payment page wears them under the strict CSP (a
violation would fail the test) and speaks French."""

from playwright.sync_api import expect

from billing import services
from billing.hosted import hosted_invoice_path
from billing.models import AccountSettings, Invoice
from tests.browser.conftest import log_in
from tests.browser.test_accessibility import axe_violations
from tests.factories import DECLINED_CARD, make_price


def test_the_branding_set_in_the_settings_colours_the_french_payment_page(page, editor):
    log_in(page, "eddie", "pw-eddie")
    page.goto("/settings/")
    page.get_by_label("Business name").fill("Acme Inc.")
    page.get_by_label("Support email").fill("help@acme.example")
    page.get_by_label("Accent colour").fill("#aa3300")
    assert axe_violations(page) == []
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_text("Settings saved.")).to_be_visible()
    assert AccountSettings.load().accent_color == "#aa3300"

    customer = services.customer_create(
        name="Ada", email="ada@example.com", currency="EUR", default_payment_method=DECLINED_CARD,
        preferred_locale="fr",
    )  # fmt: skip
    subscription = services.subscription_create(customer=customer, items=[(make_price("49.00"), 1)])
    page.goto(hosted_invoice_path(Invoice.objects.get(subscription=subscription)))
    expect(page.locator("header")).to_contain_text("Acme Inc.")
    pay = page.get_by_role("button", name="Payer maintenant")
    expect(pay).to_have_css("background-color", "rgb(170, 51, 0)")
    assert page.locator("html").get_attribute("lang") == "fr"
    assert axe_violations(page) == []
