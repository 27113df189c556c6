"""Every control of the dashboard has a label, and keyboard focus is visible."""

from datetime import timedelta

from django.utils import timezone
from playwright.sync_api import expect

from automations.models import Run
from automations.services.definitions import automation_create
from billing import services
from tests.browser.conftest import log_in
from tests.factories import make_customer, make_invoice, make_quote, make_subscription

UNLABELED = """() => [...document.querySelectorAll('main input, main select, main textarea, main button')]
  .filter(el => el.type !== 'hidden' && el.getAttribute('aria-hidden') !== 'true' && el.offsetParent !== null)
  .filter(el => !((el.labels && el.labels.length) || el.getAttribute('aria-label')
                  || el.getAttribute('aria-labelledby') || el.title
                  || (el.tagName === 'BUTTON' && el.textContent.trim())))
  .map(el => el.outerHTML.slice(0, 120))"""


def test_every_control_on_every_page_has_a_label(page, editor):
    steps = [{"action": "void_invoice", "delay": {"amount": 3, "unit": "days"}, "params": {}}]
    chase = automation_create(name="Chase", trigger="invoice.overdue", filters=[], steps=steps, user=editor)
    invoice = make_invoice(customer=make_customer())
    services.invoice_update(invoice=invoice, due_date=timezone.now() - timedelta(days=1))
    services.invoice_mark_overdue(invoice=invoice)
    run = Run.objects.get(object_id=invoice.public_id)
    subscription = make_subscription(customer=make_customer())
    quote = make_quote(customer=make_customer())
    log_in(page, "eddie", "pw-eddie")

    pages = [
        "/",
        "/automations/",
        "/automations/new/?trigger=subscription.payment_failed",
        f"/automations/{chase.public_id}/",
        f"/automations/{chase.public_id}/edit/",
        f"/automations/{chase.public_id}/runs/{run.public_id}/",
        "/customers/",
        f"/customers/{invoice.customer.public_id}/",
        "/invoices/",
        f"/invoices/{invoice.public_id}/",
        "/subscriptions/",
        f"/subscriptions/{subscription.public_id}/",
        "/quotes/",
        f"/quotes/{quote.public_id}/",
        "/settings/",
        "/settings/retry-policies/",
        "/settings/retry-policies/new/",
        "/settings/exchange-rates/",
        "/settings/team/",
        "/settings/webhooks/",
        "/settings/webhooks/new/",
        "/settings/emails/",
    ]
    for path in pages:
        assert page.goto(path).status == 200, path
        assert page.evaluate(UNLABELED) == [], path


def test_keyboard_focus_is_visible(page, editor):
    log_in(page, "eddie", "pw-eddie")
    page.goto("/automations/")
    page.keyboard.press("Tab")  # the skip link comes first
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_visible()
    page.keyboard.press("Tab")
    focused = page.evaluate(
        "() => { const s = getComputedStyle(document.activeElement);"
        " return [s.outlineStyle, s.outlineWidth, s.boxShadow]; }"
    )
    outline_style, outline_width, box_shadow = focused
    assert (outline_style != "none" and outline_width != "0px") or box_shadow != "none", focused
