"""Branding: the account settings' business name, support address, logo and accent colour, read
by billing.branding for every customer-facing email and the payment page; and the language each
customer reads."""

import pytest
from django.conf import settings
from django.http import HttpResponse
from django.test import override_settings
from django.urls import reverse

from audit.models import AuditEntry
from billing.branding import Branding, allow_logo, branding, customer_language, logo_origin
from billing.models import AccountSettings
from billing.models.account import contrast_with_white
from tests.billing.test_views_settings import VALID
from tests.factories import make_customer

pytestmark = pytest.mark.django_db

BRAND = {
    "business_name": "Acme Inc.",
    "support_email": "help@acme.example",
    "logo_url": "https://cdn.acme.example/logo.png",
    "accent_color": "#AA3300",
}


def _post(client, **changes):
    return client.post(reverse("settings"), {**VALID, **BRAND, **changes})


@override_settings(DEFAULT_FROM_EMAIL="Relance <billing@relance.localhost>")
def test_it_falls_back_to_the_sender_and_the_default_colour_when_nothing_is_set():
    assert branding() == Branding(
        name="Relance", support_email="billing@relance.localhost", logo_url="", accent_color="#1f5fbf"
    )


@override_settings(DEFAULT_FROM_EMAIL="billing@acme.example")
def test_it_names_the_business_by_the_senders_address_when_the_sender_has_no_name():
    assert branding().name == "billing@acme.example"


def test_an_editor_saves_the_branding_and_branding_reads_it(editor_client):
    response = _post(editor_client)
    assert response.status_code == 302
    assert branding() == Branding(
        name="Acme Inc.",
        support_email="help@acme.example",
        logo_url="https://cdn.acme.example/logo.png",
        accent_color="#aa3300",
    )
    page = editor_client.get(reverse("settings")).text
    assert 'value="Acme Inc."' in page
    assert 'type="color"' in page


def test_saving_the_branding_is_recorded_in_the_audit_log(editor_client):
    _post(editor_client)
    entry = AuditEntry.objects.filter(action="account.updated").latest("pk")
    assert entry.after["business_name"] == "Acme Inc."
    assert entry.after["accent_color"] == "#aa3300"


def test_a_blank_accent_colour_is_the_default_one(editor_client):
    assert _post(editor_client, accent_color="").status_code == 302
    assert AccountSettings.load().accent_color == "#1f5fbf"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("accent_color", "red", "Enter the colour as # and six hexadecimal digits"),
        ("accent_color", "#12345", "Enter the colour as # and six hexadecimal digits"),
        ("accent_color", "#1234567", "Ensure this value has at most 7 characters"),
        ("accent_color", "#12345g", "Enter the colour as # and six hexadecimal digits"),
        ("logo_url", "http://cdn.acme.example/logo.png", "Enter the logo’s full https:// address"),
        ("logo_url", "javascript:alert(1)", "Enter a valid URL."),
        ("logo_url", "https://" + "a" * 500 + ".example/logo.png", "Ensure this value has at most 500 characters"),
        ("support_email", "not an address", "Enter a valid email address."),
        ("business_name", "A" * 101, "Ensure this value has at most 100 characters"),
    ],
)
def test_a_bad_branding_value_is_refused_with_the_forms_message(editor_client, field, value, message):
    response = _post(editor_client, **{field: value})
    assert response.status_code == 400
    assert message in response.text.replace("&#x27;", "’").replace("'", "’")
    assert AccountSettings.load().business_name == ""


def test_a_viewer_sees_the_branding_without_a_form(viewer_client):
    account = AccountSettings.load()
    account.business_name = "Acme Inc."
    account.save()
    page = viewer_client.get(reverse("settings")).text
    assert "<dd>Acme Inc.</dd>" in page
    assert 'name="business_name"' not in page


@pytest.mark.parametrize(("preferred", "language"), [("", "en"), ("en", "en"), ("fr", "fr")])
def test_a_customer_reads_their_preferred_language_or_the_accounts(preferred, language):
    customer = make_customer(preferred_locale=preferred)
    assert customer_language(customer) == language


@override_settings(LANGUAGE_CODE="fr")
def test_a_customer_without_a_preference_reads_the_accounts_language():
    assert customer_language(make_customer()) == "fr"


@pytest.mark.parametrize(("color", "ratio"), [("#ffffff", 1.0), ("#000000", 21.0), ("#1f5fbf", 6.09)])
def test_it_measures_a_colours_contrast_with_white_as_wcag_does(color, ratio):
    assert contrast_with_white(color) == pytest.approx(ratio, abs=0.01)


def test_a_colour_too_light_for_white_text_and_links_is_refused(editor_client):
    response = _post(editor_client, accent_color="#ffdd00")
    assert response.status_code == 400
    assert "#ffdd00 is too light for customers to read links in it or white text on it" in response.text
    assert "at least 4.5:1 needed" in response.text


@pytest.mark.parametrize(
    ("logo_url", "origin"),
    [
        ("https://cdn.acme.example/img/logo.png?v=2", "https://cdn.acme.example"),
        ("https://user:pw@CDN.acme.example:8443/logo.png", "https://cdn.acme.example:8443"),
        ("", ""),
    ],
)
def test_the_logos_origin_is_what_the_payment_page_lets_its_csp_load(logo_url, origin):
    brand = Branding(name="Acme", support_email="", logo_url=logo_url, accent_color="#1f5fbf")
    assert logo_origin(brand) == origin
    response = allow_logo(HttpResponse(), brand)
    if origin:
        assert response._csp_config["img-src"] == [*settings.SECURE_CSP["img-src"], origin]
        assert response._csp_config["script-src"] == settings.SECURE_CSP["script-src"]
    else:
        assert not hasattr(response, "_csp_config")  # the site's policy, unchanged


def test_the_customer_page_shows_the_customers_language(viewer_client):
    french, default = make_customer(preferred_locale="fr"), make_customer()
    assert "<dt>Language</dt><dd>Français</dd>" in viewer_client.get(f"/customers/{french.public_id}/").text
    assert "<dt>Language</dt><dd>Account default</dd>" in viewer_client.get(f"/customers/{default.public_id}/").text


def test_an_admin_changes_a_customers_language_through_the_service(admin_client):
    customer = make_customer()
    url = reverse("admin:billing_customer_change", args=[customer.pk])
    form = {"name": customer.name, "email": customer.email, "preferred_locale": "fr", "metadata": "{}"}
    form["default_payment_method"] = customer.default_payment_method
    response = admin_client.post(url, form)
    assert response.status_code == 302, response.text[:2000]
    customer.refresh_from_db()
    assert customer.preferred_locale == "fr"
    entry = AuditEntry.objects.filter(action="customer.updated").latest("pk")
    assert entry.after == {"preferred_locale": "fr"}
