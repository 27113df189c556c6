"""Every page of the dashboard passes axe-core's WCAG 2.1 A/AA rules, every control has a label, and
keyboard focus is visible.

axe-core comes from npm (a devDependency, never served): it is evaluated in the page through
Playwright, which the pages' Content-Security-Policy does not apply to.
"""

from datetime import timedelta
from pathlib import Path

from django.contrib.staticfiles import finders
from django.utils import timezone
from playwright.sync_api import expect

from api.keys import api_key_create
from audit.context import acting_as
from automations.models import Automation, Backtest, Run, RunStatus
from automations.services.definitions import automation_create
from billing import services
from billing.models import Customer, Invoice, InvoiceStatus, Quote, RetryPolicy, Subscription, TestClock
from billing.services.exchange_rates import exchange_rate_set
from billing.services.test_clocks import clock_create
from billing.views.controls import TRANSITIONS
from demo.data import EDITOR_LOGIN, seed_demo
from notifications.models import DeliveryAttempt, DeliveryStatus, OutboundEmail, WebhookDelivery, WebhookEndpoint
from notifications.signing import new_secret
from tests.browser.conftest import log_in
from tests.browser.screens import ROOT
from tests.config.test_hostile_input import dashboard_endpoints, fill
from tests.factories import make_customer, make_invoice, make_quote, make_subscription

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
AXE_RUN = r"""async tags => {
  const result = await axe.run(document, {runOnly: {type: "tag", values: tags}});
  return result.violations.map(v => `${v.id} (${v.impact}): ${v.help}\n` +
    v.nodes.map(n => `      ${n.target.join(" ")}: ${n.html.slice(0, 160)}`).join("\n"));
}"""


def axe_violations(page) -> list[str]:
    """The WCAG 2.1 A and AA violations axe-core finds in the page as it is now, one readable line each."""
    assert AXE.exists(), f"{AXE} is missing: `make setup` (npm ci) installs axe-core"
    if not page.evaluate("() => typeof window.axe === 'object'"):
        # Wrapped in a function: Playwright reads a bare string as one expression.
        page.evaluate(f"() => {{\n{AXE.read_text()}\n}}")
    return page.evaluate(AXE_RUN, WCAG_21_AA)


def _demo_with_webhooks() -> dict[str, str]:
    """The demo dataset, plus what it leaves out: a webhook endpoint with a delivered and a failing delivery."""
    seed_demo()
    # Made directly: the service resolves the host, and a test must not depend on the machine's DNS.
    endpoint = WebhookEndpoint.objects.create(
        url="https://hooks.example.com/relance", enabled_events=["invoice.voided"], secret=new_secret()
    )
    now = timezone.now()
    delivered = WebhookDelivery.objects.create(
        endpoint=endpoint, event_id="evt_demo0001", event_type="invoice.voided", body='{"id": "evt_demo0001"}',
        status=DeliveryStatus.SUCCEEDED, attempt_count=1, last_status_code=200, created=now, delivered_at=now,
        retry_until=now + timedelta(days=3),
    )  # fmt: skip
    DeliveryAttempt.objects.create(delivery=delivered, number=1, started_at=now, duration_ms=84, status_code=200)
    WebhookDelivery.objects.create(
        endpoint=endpoint, event_id="evt_demo0002", event_type="invoice.voided", body='{"id": "evt_demo0002"}',
        status=DeliveryStatus.PENDING, attempt_count=1, last_status_code=500, last_error="Server error",
        created=now, next_attempt_at=now + timedelta(minutes=5), retry_until=now + timedelta(days=3),
    )  # fmt: skip
    _audited_changes()
    automation = Automation.objects.filter(runs__status=RunStatus.ACTIVE).first()
    return {
        "clock": _a_test_clock(),
        "automation": automation.public_id,
        "run": automation.runs.filter(status=RunStatus.ACTIVE).first().public_id,
        "customer": Customer.objects.first().public_id,
        "invoice": Invoice.objects.filter(status=InvoiceStatus.OPEN).first().public_id,
        "subscription": Subscription.objects.first().public_id,
        "quote": Quote.objects.first().public_id,
        "policy": str(RetryPolicy.objects.first().pk),
        "email": OutboundEmail.objects.first().public_id,
        "endpoint": endpoint.public_id,
        "event": delivered.event_id,
        "api_key": api_key_create(name="Signup flow").api_key.public_id,
        "backtest": _a_backtest(automation),
    }


def _audited_changes() -> None:
    """Audit log rows (the demo is made by no one, so it has none): an invoice voided and a rate set by hand."""
    with acting_as("user", "1", "demo"):
        services.invoice_void(invoice=make_invoice(customer=make_customer()))
        exchange_rate_set(currency="USD", value="1.08")


def _a_backtest(automation: Automation) -> str:
    """A backtest of the automation, still waiting for a worker."""
    version = automation.current_version
    definition = {"name": automation.name, "version": version.number, "filters": version.filters,
                  "steps": version.steps, "draft": False}  # fmt: skip
    backtest = Backtest.objects.create(
        automation=automation, trigger=automation.trigger, days=30, definition=definition
    )
    return backtest.public_id


def _a_test_clock() -> str:
    """The demo's test clock, or one with a customer if the demo has none."""
    test_clock = TestClock.objects.first()
    if test_clock is None:
        test_clock = clock_create(name="Rehearsal", frozen_time=timezone.now())
        services.customer_create(name="Clocked Ltd", email="billing@clocked.example", test_clock=test_clock)
    return test_clock.public_id


def test_every_dashboard_page_passes_axe_cores_wcag_2_1_aa_rules(page):
    ids = _demo_with_webhooks()
    found = {}
    page.goto("/accounts/login/")
    found["/accounts/login/"] = axe_violations(page)
    log_in(page, EDITOR_LOGIN.username, EDITOR_LOGIN.password)

    pages = [
        "/",
        "/automations/",
        "/automations/new/",
        "/automations/new/?trigger=subscription.payment_failed",
        "/automations/import/",
        f"/automations/{ids['automation']}/",
        f"/automations/{ids['automation']}/edit/",
        f"/automations/{ids['automation']}/runs/{ids['run']}/",
        "/customers/",
        f"/customers/{ids['customer']}/",
        "/invoices/",
        f"/invoices/{ids['invoice']}/",
        "/subscriptions/",
        f"/subscriptions/{ids['subscription']}/",
        "/quotes/",
        f"/quotes/{ids['quote']}/",
        f"/automations/dry-run/invoice/{ids['invoice']}/",
        f"/automations/dry-run/subscription/{ids['subscription']}/",
        f"/automations/dry-run/quote/{ids['quote']}/",
        "/settings/",
        "/settings/retry-policies/",
        "/settings/retry-policies/new/",
        f"/settings/retry-policies/{ids['policy']}/edit/",
        "/settings/exchange-rates/",
        "/settings/team/",
        "/settings/webhooks/",
        "/settings/webhooks/new/",
        f"/settings/webhooks/{ids['endpoint']}/",
        f"/settings/webhooks/{ids['endpoint']}/edit/",
        f"/settings/webhooks/{ids['endpoint']}/deliveries/{ids['event']}/",
        "/settings/emails/",
        f"/settings/emails/{ids['email']}/",
        "/test-clocks/",
        f"/test-clocks/{ids['clock']}/",
        f"/test-clocks/{ids['clock']}/delete/",
        "/settings/api-keys/",
        f"/settings/api-keys/{ids['api_key']}/revoke/",
        "/settings/audit-log/",
        "/analytics/",
        "/analytics/?days=365",
        "/analytics/definitions/",
    ]
    for path in pages:
        assert page.goto(path).status == 200, path
        found[path] = axe_violations(page)

    # A new API key, shown once in the answer to the form; revoking a key asks in a dialog.
    page.goto("/settings/api-keys/")
    page.get_by_label("Name").fill("Back office")
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_role("heading", name="Your new key")).to_be_visible()
    found["/settings/api-keys/ (a key just created)"] = axe_violations(page)
    page.goto("/settings/api-keys/")
    page.get_by_role("button", name="Revoke the key Signup flow").click()
    expect(page.get_by_role("dialog", name="Revoke the key “Signup flow”?")).to_be_visible()
    found["/settings/api-keys/ (revoking a key)"] = axe_violations(page)
    # An automation's JSON pasted on the import page: its preview, before anything is saved.
    document = page.request.get(f"/automations/{ids['automation']}/export/").text()
    page.goto("/automations/import/")
    page.get_by_label("Or paste the JSON").fill(document)
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_role("button", name="Save as new automation")).to_be_visible()
    found["/automations/import/ (a document's preview)"] = axe_violations(page)

    # The dialogs, open: turning off an automation with active runs, changing an invoice's due date.
    page.goto("/automations/")
    active = Automation.objects.get(public_id=ids["automation"])
    page.get_by_role("button", name=f"Enabled: {active.name}").click()
    expect(page.locator("dialog#toggle-dialog")).to_be_visible()
    found["/automations/ (turning one off)"] = axe_violations(page)
    page.goto(f"/invoices/{ids['invoice']}/")
    page.get_by_role("button", name="Change due date").click()
    expect(page.get_by_role("dialog", name="Change due date")).to_be_visible()
    found[f"/invoices/{ids['invoice']}/ (changing the due date)"] = axe_violations(page)

    # Every other page the URL configuration has: a new page is checked without being listed above.
    unreached = []
    for name, paths in _every_route(ids):
        answers = {path: page.request.get(path, max_redirects=0) for path in paths}
        if not any(answer.status < 400 or answer.status == 405 for answer in answers.values()):
            unreached.append(f"{name}: {', '.join(f'{p} → {a.status}' for p, a in answers.items())}")
        for path, answer in answers.items():
            if answer.status == 200 and answer.headers["content-type"].startswith("text/html") and path not in found:
                assert page.goto(path).status == 200, path
                found[path] = axe_violations(page)
    assert not unreached, "routes the walk could not open with real ids:\n" + "\n".join(unreached)

    report = [f"{path}\n    " + "\n    ".join(violations) for path, violations in found.items() if violations]
    assert not report, "axe-core found WCAG 2.1 A/AA violations:\n" + "\n".join(report)


# Routes the walk leaves to others: not the dashboard's pages, or checked by a test of their own.
NOT_WALKED = {
    "health": "JSON for monitoring",
    "login": "checked above, before logging in",
    "hosted_invoice": "the customer's payment page, by a signed link: tests/browser/test_branding.py",
    "notifications:email_html": "an email's own HTML, framed in its page under the email's own policy",
    "dry_run_search": "an htmx fragment of the builder's dry run: tests/browser/test_dry_run.py",
}
# Which of the demo's objects a route's parameters name, by a word of the route's name (first match).
ROUTE_OBJECTS = [
    ("test_clock", "clock"), ("api_keys:", "api_key"), ("retry_policy", "policy"), ("exchange_rate", "rate"),
    ("run_", "automation"), ("automation", "automation"), ("backtest", "backtest"), ("customer", "customer"),
    ("invoice", "invoice"), ("subscription", "subscription"), ("quote", "quote"), ("webhook", "endpoint"),
    ("delivery", "endpoint"), ("email", "email"),
]  # fmt: skip


def _every_route(ids: dict[str, str]) -> list[tuple[str, list[str]]]:
    """(name, paths) of every dashboard route but the API's and NOT_WALKED, its parameters filled
    with the demo's objects (a transition's confirmation once per transition of its kind)."""
    found = []
    for name, route in dashboard_endpoints():
        if name.startswith("api_v1:") or name in NOT_WALKED:
            continue
        key = next((key for word, key in ROUTE_OBJECTS if word in name), None)
        values = {
            "public_id": [ids.get(key, "x")], "pk": [ids.get(key, "x")], "backtest_id": [ids["backtest"]],
            "run_id": [ids["run"]], "event_id": [ids["event"]], "currency": ["USD"],
            "kind": ["invoice"], "name": sorted(TRANSITIONS.get(key, ["x"])),
        }  # fmt: skip
        if name == "object_dry_run":
            values["public_id"] = [ids["invoice"]]
        paths = fill(route, values)
        found.append((name, paths[:-1] if len(paths) > 1 else paths))  # fill's last path is its hostile one
    return found


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
    _audited_changes()
    log_in(page, "eddie", "pw-eddie")

    pages = [
        "/",
        "/automations/",
        "/automations/new/?trigger=subscription.payment_failed",
        "/automations/import/",
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
        f"/automations/dry-run/invoice/{invoice.public_id}/",
        "/settings/",
        "/settings/retry-policies/",
        "/settings/retry-policies/new/",
        "/settings/exchange-rates/",
        "/settings/team/",
        "/settings/webhooks/",
        "/settings/webhooks/new/",
        "/settings/emails/",
        "/settings/api-keys/",
        "/settings/audit-log/",
        "/analytics/",
        "/test-clocks/",
        f"/test-clocks/{_a_test_clock()}/",
        f"/test-clocks/{_a_test_clock()}/delete/",
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


def test_axe_core_is_a_test_tool_the_dashboard_never_serves():
    served = [Path(storage.path(path)) for finder in finders.get_finders() for path, storage in finder.list([])]
    assert any(path.is_relative_to(ROOT / "node_modules" / "sortablejs") for path in served)
    assert not [path for path in served if path.is_relative_to(AXE.parent)], "axe-core is collected as a static file"
