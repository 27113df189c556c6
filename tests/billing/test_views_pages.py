"""The base page and the overview."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from moneyed import Money

from tests.factories import make_invoice, make_quote, make_subscription

pytestmark = pytest.mark.django_db


def test_the_navigation_links_every_section(viewer_client):
    response = viewer_client.get(reverse("home"))
    for name in ["automations", "customers", "invoices", "subscriptions", "quotes", "settings"]:
        assert f'href="{reverse(name)}"' in response.text, name


def test_the_header_shows_the_user_role_and_a_logout_form(viewer_client):
    text = viewer_client.get(reverse("home")).text
    assert "vera" in text
    assert '<span class="role">Viewer</span>' in text
    assert f'<form method="post" action="{reverse("logout")}"' in text


def test_an_editor_is_shown_as_editor(editor_client):
    assert '<span class="role">Editor</span>' in editor_client.get(reverse("home")).text


def test_a_user_in_no_group_is_refused_and_told_to_ask_an_editor(client, outsider):
    client.force_login(outsider)
    response = client.get(reverse("invoices"))
    assert response.status_code == 403
    assert "ask an editor for access" in response.text


def test_the_admin_link_is_for_staff_only(client, viewer_client, admin_user):
    assert 'href="/admin/"' not in viewer_client.get(reverse("home")).text
    client.force_login(admin_user)
    assert 'href="/admin/"' in client.get(reverse("home")).text


def test_the_base_page_loads_htmx_and_sends_the_csrf_token_with_htmx_requests(viewer_client):
    response = viewer_client.get(reverse("home"))
    # The nonce (of the Content-Security-Policy) is harmless on a script from our own origin.
    assert re.search(
        r'<script src="/static/django_htmx/htmx-2\.min\.js" defer( nonce="[^"]+")?></script>', response.text
    )
    token = response.context["csrf_token"]
    assert f'<body hx-headers=\'{{"X-CSRFToken": "{token}"}}\'>' in response.text


def test_the_base_page_has_a_skip_link_and_its_own_stylesheet(viewer_client):
    text = viewer_client.get(reverse("home")).text
    assert '<a class="skip-link" href="#main">' in text
    assert 'id="main"' in text
    assert "/static/css/relance.css" in text


def test_the_current_section_is_marked_in_the_navigation(viewer_client):
    text = viewer_client.get(reverse("quotes")).text
    assert f'<a href="{reverse("quotes")}" aria-current="page">' in text


def test_the_overview_counts_what_needs_attention(viewer_client):
    now = timezone.now()
    make_invoice(status="open", amount="100.00", amount_paid=Money("40.00", "EUR"))
    make_invoice(status="open", amount="50.00", due_date=now - timedelta(days=2))
    make_invoice(status="open", amount="30.00", currency="USD")
    make_invoice(status="paid")
    make_subscription(status="past_due")
    make_quote(status="open", expires_at=now + timedelta(days=2))
    make_quote(status="open", expires_at=now + timedelta(days=20))
    response = viewer_client.get(reverse("home"))
    overview = response.context["overview"]
    assert overview.open_invoices == 3
    assert [(row.currency, row.count, row.amount_due) for row in overview.open_by_currency] == [
        ("EUR", 2, Money("110.00", "EUR")),
        ("USD", 1, Money("30.00", "USD")),
    ]
    assert (overview.overdue_invoices, overview.past_due_subscriptions, overview.expiring_quotes) == (1, 1, 1)
    assert "€110.00" in response.text


def test_the_overview_links_to_the_filtered_lists(viewer_client):
    text = viewer_client.get(reverse("home")).text
    for link in ["/invoices/?status=open", "/invoices/?status=overdue", "/subscriptions/?status=past_due"]:
        assert f'href="{link}"' in text, link
    assert 'href="/quotes/?status=expiring"' in text
    assert "What is Relance?" in text


def test_the_base_page_loads_the_relance_script_after_htmx_with_the_n_shortcut_for_editors_only(client, editor, viewer):
    client.force_login(editor)
    editor_text = client.get(reverse("home")).text
    htmx_at = editor_text.index("/static/django_htmx/htmx-2.min.js")
    assert htmx_at < editor_text.index("/static/vendor/sortablejs/Sortable.min.js")
    new_url = reverse("automation_new")
    assert f'<script src="/static/js/relance.js" defer data-new-automation-url="{new_url}"></script>' in editor_text
    client.force_login(viewer)
    viewer_text = client.get(reverse("home")).text
    assert '<script src="/static/js/relance.js" defer></script>' in viewer_text
    assert "data-new-automation-url" not in viewer_text
