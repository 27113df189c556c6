"""The hosted invoice page (issue 16): a signed, expiring link with no login; the invoice and a plain
form to enter a new card and pay now, which changes the card and retries once however often it
is posted; a clear page for an expired or altered link."""

import re
import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.utils import timezone

from billing import services
from billing.hosted import PaymentLinkError, hosted_invoice_path, hosted_invoice_url, invoice_from_token
from billing.models import Invoice, PaymentAttempt, PaymentPageSubmission
from tests.factories import DECLINED_CARD, EXPIRED_CARD, GOOD_CARD, make_price

pytestmark = pytest.mark.django_db


def _failed_invoice(**customer_fields) -> Invoice:
    customer = services.customer_create(
        name="Acme Ltd", email="billing@acme.example", currency="EUR", default_payment_method=DECLINED_CARD,
        **customer_fields,
    )  # fmt: skip
    price = make_price("49.00", interval="month", name="Pro plan")
    subscription = services.subscription_create(customer=customer, items=[(price, 1)])
    invoice = Invoice.objects.get(subscription=subscription)
    assert invoice.status == "open" and invoice.attempt_count == 1
    return invoice


def _token(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[1]


def _nonce(page: str) -> str:
    return re.search(r'name="nonce" value="([^"]+)"', page).group(1)


# --- the link -------------------------------------------------------------------------------------


def test_a_link_is_absolute_and_leads_back_to_its_invoice(settings):
    settings.RELANCE_BASE_URL = "https://billing.acme.example"
    invoice = _failed_invoice()
    url = hosted_invoice_url(invoice)
    assert url.startswith("https://billing.acme.example/pay/")
    assert invoice_from_token(_token(url)) == invoice


def test_an_expired_link_is_refused_as_expired():
    invoice = _failed_invoice()
    token = _token(hosted_invoice_path(invoice, expires_in=timedelta(days=2)))
    with time_machine.travel(timezone.now() + timedelta(days=3)), pytest.raises(PaymentLinkError) as caught:
        invoice_from_token(token)
    assert caught.value.expired and "expired" in caught.value.message


def test_an_altered_link_is_refused_as_not_valid():
    invoice = _failed_invoice()
    token = _token(hosted_invoice_path(invoice))
    for forged in (token[:-2] + ("AA" if not token.endswith("AA") else "BB"), "nonsense", token.replace(":", "")):
        with pytest.raises(PaymentLinkError) as caught:
            invoice_from_token(forged)
        assert not caught.value.expired


# --- the page -------------------------------------------------------------------------------------


def test_the_page_needs_no_login_and_shows_the_invoice_and_a_form(client):
    invoice = _failed_invoice()
    response = client.get(hosted_invoice_path(invoice))
    assert response.status_code == 200
    page = response.content.decode()
    assert f"Invoice {invoice.number}" in page and "€49.00" in page and "Pro plan" in page
    assert '<form method="post"' in page and "Pay now" in page
    assert "Your card was declined." in page  # why the last attempt failed
    assert 'class="main-nav"' not in page  # no dashboard around it


def test_an_expired_link_answers_410_with_what_to_do(client):
    invoice = _failed_invoice()
    path = hosted_invoice_path(invoice, expires_in=timedelta(hours=1))
    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        response = client.get(path)
    assert response.status_code == 410
    page = response.content.decode()
    assert "This payment link has expired" in page and "contact" in page
    assert "Pay now" not in page


def test_an_altered_link_answers_403_with_what_to_do(client):
    invoice = _failed_invoice()
    path = hosted_invoice_path(invoice)
    response = client.get(path[:-3] + "x/")
    assert response.status_code == 403
    assert "This payment link is not valid" in response.content.decode()
    assert client.post(path[:-3] + "x/", {"card": GOOD_CARD}).status_code == 403


def test_a_paid_invoice_says_so_and_offers_no_form(client):
    invoice = _failed_invoice()
    services.invoice_mark_paid(invoice=invoice, paid_out_of_band=True)
    page = client.get(hosted_invoice_path(invoice)).content.decode()
    assert "This invoice is paid" in page and "<form" not in page


# --- paying ---------------------------------------------------------------------------------------


def test_a_good_card_posted_with_a_plain_form_pays_the_invoice_once_even_posted_twice():
    client = Client(enforce_csrf_checks=True)
    invoice = _failed_invoice()
    path = hosted_invoice_path(invoice)
    page = client.get(path).content.decode()
    form = {
        "csrfmiddlewaretoken": re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1),
        "nonce": _nonce(page),
        "card": GOOD_CARD,
    }
    first = client.post(path, form)
    assert first.status_code == 200
    assert "your payment went through and the invoice is paid" in first.content.decode()
    invoice.refresh_from_db()
    assert invoice.status == "paid"
    assert invoice.customer.default_payment_method == GOOD_CARD
    second = client.post(path, form)  # a double click, or back and resubmit
    assert second.status_code == 200
    assert PaymentAttempt.objects.filter(invoice=invoice).count() == 2  # the failure, then one retry
    assert PaymentPageSubmission.objects.count() == 1
    assert "This invoice is paid" in second.content.decode()


def test_a_declined_card_says_why_and_offers_the_form_again(client):
    invoice = _failed_invoice()
    path = hosted_invoice_path(invoice)
    response = client.post(path, {"nonce": _nonce(client.get(path).content.decode()), "card": EXPIRED_CARD})
    assert response.status_code == 200
    page = response.content.decode()
    assert "The payment was declined." in page and "Your card has expired." in page
    assert "This card cannot be charged again: enter another card." in page  # a hard decline
    assert "Pay now" in page
    invoice.refresh_from_db()
    assert invoice.status == "open" and invoice.customer.default_payment_method == EXPIRED_CARD


def test_the_same_form_posted_twice_retries_each_failed_invoice_once(client):
    invoice = _failed_invoice()
    path = hosted_invoice_path(invoice)
    form = {"nonce": _nonce(client.get(path).content.decode()), "card_number": "4111 1111 1111 1111"}
    refused = client.post(path, form)  # a card the gateway does not know: nothing is claimed
    assert refused.status_code == 400 and PaymentAttempt.objects.filter(invoice=invoice).count() == 1
    form["card_number"] = "4000 0000 0000 9995"  # insufficient funds: declined
    assert "The payment was declined." in client.post(path, form).content.decode()
    response = client.post(path, form)
    assert "already sent" in response.content.decode()
    assert PaymentAttempt.objects.filter(invoice=invoice).count() == 2


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"card": ""}, "Choose a card, or enter a card number."),
        ({"card_number": "4242abc"}, "Enter the card number: 12 to 19 digits."),
        ({"card": "1234"}, "Select a valid choice"),
    ],
)
def test_a_bad_form_answers_400_with_the_problem(client, form, message):
    invoice = _failed_invoice()
    path = hosted_invoice_path(invoice)
    response = client.post(path, {"nonce": _nonce(client.get(path).content.decode()), **form})
    assert response.status_code == 400 and message in response.content.decode()
    assert PaymentAttempt.objects.filter(invoice=invoice).count() == 1


def test_a_form_without_its_nonce_is_refused(client):
    invoice = _failed_invoice()
    response = client.post(hosted_invoice_path(invoice), {"card": GOOD_CARD, "nonce": "short"})
    assert response.status_code == 400 and "reload the page" in response.content.decode()


def test_the_page_speaks_french_to_a_customer_who_prefers_it(client):
    invoice = _failed_invoice(preferred_locale="fr")
    page = client.get(hosted_invoice_path(invoice)).content.decode()
    assert '<html lang="fr">' in page
    assert "Payer maintenant" in page and "Pay now" not in page


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_form_posted_twice_at_the_same_moment_pays_once():
    invoice = _failed_invoice()
    path = hosted_invoice_path(invoice)
    form = {"nonce": _nonce(Client().get(path).content.decode()), "card": GOOD_CARD}
    barrier = threading.Barrier(2)
    statuses, errors = [], []

    def post():
        try:
            barrier.wait()
            statuses.append(Client().post(path, form).status_code)
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors and statuses == [200, 200]
    invoice.refresh_from_db()
    assert invoice.status == "paid"
    assert PaymentAttempt.objects.filter(invoice=invoice).count() == 2  # the failure, then one retry
    assert PaymentPageSubmission.objects.count() == 1
