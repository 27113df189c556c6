"""Content-Security-Policy: every response says scripts and styles come from our own origin only;
our templates carry no inline script, style block, style attribute or event handler attribute,
and the Django admin's own inline tags carry the response's nonce."""

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils.html import escape

pytestmark = pytest.mark.django_db

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
# Emails are read in mail clients, where styles must be inline; no browser applies our CSP there.
NOT_PAGES = ("emails/", "notifications/customer/")  # emails: mail clients do not apply our policy


def directives(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {name: values for name, *values in (part.split() for part in header.split(";") if part.strip())}


@pytest.mark.parametrize("path", ["/", "/invoices/", "/accounts/login/", "/health/", "/no-such-page/", "/admin/"])
def test_every_response_carries_a_policy_of_scripts_and_styles_from_self(viewer_client, path):
    policy = directives(viewer_client.get(path))
    assert policy["default-src"] == ["'self'"]
    for kind in ("script-src", "style-src"):
        assert policy[kind][0] == "'self'"
        assert all(value == "'self'" or value.startswith("'nonce-") for value in policy[kind]), policy[kind]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"]
    assert policy["form-action"] == ["'self'"]


@pytest.mark.parametrize("path", ["/", "/invoices/", "/automations/", "/settings/", "/accounts/login/"])
def test_a_rendered_dashboard_page_has_no_inline_script_or_style(client, viewer, path):
    if path != "/accounts/login/":
        client.force_login(viewer)
    text = client.get(path).text
    assert "<script" in text  # htmx, SortableJS and relance.js, from files
    found = [what for pattern, what in INLINE if pattern.search(text)]
    assert not found, found


class _InlineContent(HTMLParser):
    """What a page's parsed tags carry that a policy of scripts and styles from self refuses (the
    text of the page, an email's HTML source shown escaped for instance, is not looked at)."""

    def __init__(self):
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and "src" not in attrs:
            self.found.append("an inline <script>")
        if tag == "style" and "nonce" not in attrs:
            self.found.append("a <style> block without the CSP nonce")
        for name, value in attrs.items():
            if name == "style":
                self.found.append(f"a style= attribute on <{tag}>")
            elif name.startswith(("on", "hx-on")):
                self.found.append(f"an {name}= attribute on <{tag}>")
            elif (value or "").strip().lower().startswith("javascript:"):
                self.found.append(f"a javascript: URL in <{tag} {name}>")


def inline_content(html: str) -> list[str]:
    parser = _InlineContent()
    parser.feed(html)
    return parser.found


def test_every_dashboard_page_sends_the_policy_and_renders_no_inline_script_or_style(client, editor):
    """Every route of the URL configuration, opened with the demo's objects (the same walk as the
    axe-core test): a page added later is checked without being listed."""
    from tests.browser.test_accessibility import _demo_with_webhooks, _every_route

    ids = _demo_with_webhooks()
    client.force_login(editor)
    checked, found = 0, []
    for _name, paths in _every_route(ids):
        for path in paths:
            response = client.get(path)
            if response.status_code != 200 or not response["Content-Type"].startswith("text/html"):
                continue
            checked += 1
            policy = directives(response)
            for kind in ("script-src", "style-src"):
                if not (policy[kind][0] == "'self'" and all(v.startswith("'nonce-") for v in policy[kind][1:])):
                    found.append(f"{path}: {kind} {policy[kind]}")
            found += [f"{path}: {what}" for what in inline_content(response.text)]
    assert checked >= 40
    docs = client.get("/v1/docs")  # the API's own page, outside the dashboard's routes
    assert docs.status_code == 200 and "'self'" in docs["Content-Security-Policy"]
    found += [f"/v1/docs: {what}" for what in inline_content(docs.text)]
    assert not found, "\n".join(found)


def test_the_admin_inline_tags_carry_the_nonce_of_the_response(admin_client):
    response = admin_client.get(reverse("admin:billing_invoice_changelist"))
    assert response.status_code == 200
    nonce = re.search(r"'nonce-([^']+)'", response["Content-Security-Policy"]).group(1)
    assert f'nonce="{nonce}"' in response.text


def test_htmx_is_told_not_to_inject_its_indicator_style(viewer_client):
    text = viewer_client.get("/").text
    assert '"includeIndicatorStyles":false' in text
    assert '"attributesToSettle":["class","width","height"]' in text  # never "style"


INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I), "an inline <script>"),
    (re.compile(r"<style\b(?![^>]*\bnonce=)", re.I), "a <style> block without the CSP nonce"),
    (re.compile(r"\sstyle\s*=", re.I), "a style= attribute"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "an on…= event handler attribute"),
    (re.compile(r"\bhx-on", re.I), "an hx-on attribute (htmx evaluates it like inline script)"),
    (re.compile(r"javascript:", re.I), "a javascript: URL"),
]


def test_no_page_template_has_inline_script_or_style():
    found = []
    for template in sorted(TEMPLATES.rglob("*.html")):
        name = template.relative_to(TEMPLATES).as_posix()
        if name.startswith(NOT_PAGES):
            continue
        text = template.read_text()
        for pattern, what in INLINE:
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{name}:{line}: {what}")
    assert not found, "\n".join(found)


@pytest.fixture
def sent_email():
    from notifications.email import send_templated_email

    return send_templated_email(to=["ada@example.com"], template="emails/team_memo", context={"memo": "Hi"})


def test_an_email_is_framed_from_its_own_address_not_inlined_into_the_page(viewer_client, sent_email):
    detail = viewer_client.get(reverse("notifications:email_detail", args=[sent_email.public_id])).text
    frame_url = reverse("notifications:email_html", args=[sent_email.public_id])
    assert f'src="{frame_url}"' in detail
    assert "srcdoc" not in detail  # a srcdoc frame inherits this page's policy: the email's inline styles broke it


def test_the_framed_email_has_its_own_policy_inline_styles_only_sandboxed_and_framed_by_us(viewer_client, sent_email):
    response = viewer_client.get(reverse("notifications:email_html", args=[sent_email.public_id]))
    assert response.status_code == 200
    assert response.text == sent_email.html_body
    assert 'style="' in response.text  # the email's own inline styles, which its policy allows
    policy = directives(response)
    assert policy["default-src"] == ["'none'"]
    assert policy["style-src"] == ["'unsafe-inline'"]
    assert "script-src" not in policy  # default-src 'none': no script at all
    assert "sandbox" in policy
    assert policy["frame-ancestors"] == ["'self'"]
    assert response["X-Frame-Options"] == "SAMEORIGIN"


def test_an_email_without_html_or_unknown_has_no_html_page(viewer_client, outsider, client):
    from notifications.email import send_templated_email

    plain = send_templated_email(to=["ada@example.com"], template="emails/test_message", context={"name": "Ada"})
    plain.html_body = ""
    plain.save()
    assert viewer_client.get(reverse("notifications:email_html", args=[plain.public_id])).status_code == 404
    assert viewer_client.get(reverse("notifications:email_html", args=["em_nope"])).status_code == 404
    client.force_login(outsider)
    assert client.get(reverse("notifications:email_html", args=[plain.public_id])).status_code == 403


def test_the_admin_pages_of_logged_emails_have_no_style_attributes(admin_client, sent_email):
    response = admin_client.get(reverse("admin:notifications_outboundemail_change", args=[sent_email.pk]))
    assert response.status_code == 200
    assert "Hi" in response.text  # the payload is shown
    page = response.text.replace(sent_email.html_body, "").replace(escape(sent_email.html_body), "")
    assert not re.search(r"\sstyle\s*=", page)
    nonce = re.search(r"'nonce-([^']+)'", response["Content-Security-Policy"]).group(1)
    assert f'href="/static/css/admin.css" media="all" nonce="{nonce}"' in response.text
