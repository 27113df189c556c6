"""The cancellation confirmation, like every customer-facing email, says whose it is (the
account's branding) and speaks the customer's language."""

from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from django.utils import translation

from billing import services
from billing.models import AccountSettings
from notifications.models import OutboundEmail
from tests.automations.test_actions import _execute, _step
from tests.factories import GOOD_CARD, make_price

pytestmark = pytest.mark.django_db

CATALOG = Path(__file__).resolve().parents[2] / "locale" / "fr" / "LC_MESSAGES" / "django.po"


@pytest.fixture
def acme():
    account = AccountSettings.load()
    account.business_name = "Acme Inc."
    account.support_email = "help@acme.example"
    account.logo_url = "https://cdn.acme.example/logo.png"
    account.accent_color = "#aa3300"
    account.save()
    return account


def _canceled(locale=""):
    customer = services.customer_create(
        name="Ada", email="ada@example.com", currency="EUR", default_payment_method=GOOD_CARD, preferred_locale=locale
    )
    price = make_price("49.00", interval="month", name="Team plan")
    subscription = services.subscription_create(customer=customer, items=[(price, 1)])
    return services.subscription_cancel(subscription=subscription)


def _send(subscription, survey_url="") -> OutboundEmail:
    step = _step(subscription, "subscription.canceled", "send_cancellation_email", {"survey_url": survey_url})
    _execute(step)
    return OutboundEmail.objects.get()


def test_it_signs_with_the_business_name_and_its_support_address(acme):
    email = _send(_canceled())
    assert "Thank you for having been a customer of Acme Inc." in email.text_body
    assert "The Acme Inc. team" in email.text_body
    assert "Questions? Write to us at help@acme.example." in email.text_body
    assert '<img src="https://cdn.acme.example/logo.png" alt="Acme Inc."' in email.html_body
    assert 'href="mailto:help@acme.example" style="color: #aa3300;"' in email.html_body
    assert email.subject == "Your subscription has been canceled"
    assert '<html lang="en">' in email.html_body


def test_without_branding_it_signs_with_the_sender_of_the_emails(settings):
    settings.DEFAULT_FROM_EMAIL = "Relance <billing@relance.localhost>"
    email = _send(_canceled())
    assert "Thank you for having been a customer of Relance." in email.text_body
    assert "Questions? Write to us at billing@relance.localhost." in email.text_body
    # No logo: the name stands at the top, in the default accent colour.
    assert 'color: #1f5fbf;">Relance</p>' in email.html_body


def test_a_french_customer_reads_it_in_french(acme):
    email = _send(_canceled(locale="fr"), survey_url="https://acme.example/why")
    assert email.subject == "Votre abonnement a été résilié"
    assert email.text_body.startswith("Bonjour Ada,")
    assert "a été résilié le" in email.text_body
    assert "- 1 × Team plan, 49,00\xa0€ / mois" in email.text_body  # French money, French interval
    assert "Acme Inc. vous remercie d’avoir été parmi ses clients." in email.text_body
    assert "L’équipe Acme Inc." in email.text_body
    assert "Une question ? Écrivez-nous à help@acme.example." in email.text_body
    assert "Pourriez-vous nous dire pourquoi vous avez résilié" in email.text_body
    assert '<html lang="fr">' in email.html_body and "Quantité" in email.html_body


def test_a_customer_without_a_preference_reads_the_accounts_language(acme, settings):
    settings.LANGUAGE_CODE = "fr"
    assert _send(_canceled()).subject == "Votre abonnement a été résilié"


def test_the_customers_language_does_not_leak_into_what_follows(acme):
    _send(_canceled(locale="fr"))
    assert translation.get_language() in ("en", "en-us")


def test_every_customer_facing_string_has_its_french_translation():
    with CATALOG.open("rb") as po:
        catalog = read_po(po, locale="fr")
    untranslated = [m.id for m in catalog if m.id and (not m.string or m.fuzzy)]
    assert untranslated == []


def test_the_french_catalog_is_compiled_and_read():
    assert CATALOG.with_suffix(".mo").exists(), "the catalogs are compiled by `make setup` (msgfmt)"
    with translation.override("fr"):
        assert translation.gettext("Your subscription has been canceled") == "Votre abonnement a été résilié"
