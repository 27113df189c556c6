"""The payment page wears the account's branding under the strict CSP (the accent colour in a
nonce'd style element, the logo allowed from its own origin only) and speaks the customer's
language."""

import re

import pytest
from django.test import Client

from billing import services
from billing.hosted import hosted_invoice_path
from billing.models import AccountSettings, Invoice
from tests.factories import DECLINED_CARD, make_price

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme():
    account = AccountSettings.load()
    account.business_name = "Acme Inc."
    account.support_email = "help@acme.example"
    account.logo_url = "https://cdn.acme.example/logo.png"
    account.accent_color = "#aa3300"
    account.save()
    return account


def _invoice(locale="") -> Invoice:
    customer = services.customer_create(
        name="Ada", email="ada@example.com", currency="EUR", default_payment_method=DECLINED_CARD,
        preferred_locale=locale,
    )  # fmt: skip
    subscription = services.subscription_create(customer=customer, items=[(make_price("49.00"), 1)])
    return Invoice.objects.get(subscription=subscription)


def _csp(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    return {name: values for name, *values in (part.split() for part in policy.split(";") if part.strip())}


def test_the_page_shows_the_logo_from_its_origin_and_the_accent_in_a_nonced_style(acme):
    response = Client().get(hosted_invoice_path(_invoice()))
    assert response.status_code == 200
    page = response.text
    assert '<img src="https://cdn.acme.example/logo.png" alt="Acme Inc."' in page
    csp = _csp(response)
    assert csp["img-src"] == ["'self'", "data:", "https://cdn.acme.example"]
    assert "'unsafe-inline'" not in csp["style-src"]
    nonce = re.search(r"'nonce-([^']+)'", " ".join(csp["style-src"])).group(1)
    assert re.search(rf'<style nonce="{re.escape(nonce)}">[^<]*--accent: #aa3300;', page)
    assert " style=" not in page  # no inline style attribute: the CSP would refuse it


def test_without_a_logo_the_page_keeps_the_sites_policy_and_shows_the_name():
    response = Client().get(hosted_invoice_path(_invoice()))
    assert _csp(response)["img-src"] == ["'self'", "data:"]
    assert "<img" not in response.text


def test_an_altered_link_is_refused_with_the_logo_allowed_too(acme):
    response = Client().get(hosted_invoice_path(_invoice()).rstrip("/") + "x/")
    assert response.status_code == 403
    assert "https://cdn.acme.example" in _csp(response)["img-src"]


def test_a_french_customer_reads_the_page_in_french(acme):
    page = Client().get(hosted_invoice_path(_invoice(locale="fr"))).text
    assert '<html lang="fr">' in page
    assert "Payer maintenant" in page and "Montant dû" in page
    assert "Une question ? Écrivez à help@acme.example." in page
