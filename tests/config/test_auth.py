"""Every page needs a login; logging in works with a real password and logging out is a POST."""

import pytest
from django.urls import reverse

from tests.factories import make_customer, make_invoice, make_quote, make_subscription

pytestmark = pytest.mark.django_db

PAGES = ["home", "automations", "customers", "invoices", "subscriptions", "quotes", "settings"]


@pytest.mark.parametrize("name", PAGES)
def test_an_anonymous_visitor_is_sent_to_the_login_page(client, name):
    url = reverse(name)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


def test_an_anonymous_visitor_cannot_open_a_detail_page(client):
    urls = [
        reverse("customer_detail", args=[make_customer().public_id]),
        reverse("invoice_detail", args=[make_invoice().public_id]),
        reverse("subscription_detail", args=[make_subscription().public_id]),
        reverse("quote_detail", args=[make_quote().public_id]),
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_the_login_page_is_reachable_without_a_login(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert b'name="password"' in response.content


def test_a_user_logs_in_with_their_password_and_lands_on_the_overview(client, viewer):
    response = client.post(reverse("login"), {"username": "vera", "password": "pw-vera"})
    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    assert client.get(reverse("home")).status_code == 200


def test_login_follows_next_to_the_page_asked_for(client, viewer):
    response = client.post(reverse("login"), {"username": "vera", "password": "pw-vera", "next": reverse("invoices")})
    assert response["Location"] == reverse("invoices")


def test_a_wrong_password_shows_an_error_and_does_not_log_in(client, viewer):
    response = client.post(reverse("login"), {"username": "vera", "password": "wrong"})
    assert response.status_code == 200
    assert b"correct username and password" in response.content
    assert client.get(reverse("home")).status_code == 302


def test_logout_is_a_post_that_ends_the_session(viewer_client):
    response = viewer_client.post(reverse("logout"))
    assert response.status_code == 302
    assert response["Location"] == reverse("login")
    assert viewer_client.get(reverse("home")).status_code == 302


def test_logout_by_get_is_refused(viewer_client):
    assert viewer_client.get(reverse("logout")).status_code == 405
    assert viewer_client.get(reverse("home")).status_code == 200


def test_an_htmx_request_with_an_expired_session_reloads_the_page_on_the_login_screen(client):
    response = client.get("/invoices/?q=x", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response["HX-Redirect"].startswith("/accounts/login/?next=")


def test_a_viewer_refused_a_change_sees_a_page_that_explains_why(viewer_client):
    response = viewer_client.post("/settings/", {})
    assert response.status_code == 403
    assert "You can look, but not change this" in response.content.decode()


def _dashboard_paths() -> list[str]:
    """Every route of the dashboard (ids filled with a value that names nothing): all need a role.
    The API (/v1/) is not the dashboard: it takes a key, not a session (tests/api/test_core.py)."""
    from tests.config.test_hostile_input import dashboard_endpoints, fill

    exempt = {"login", "health", "hosted_invoice"}  # the payment page is the customer's: a signed link, no login
    return [
        path
        for name, route in dashboard_endpoints()
        if name not in exempt and not name.startswith("api_v1:")
        for path in fill(route, {"pk": ["1"]})[:1]
    ]


def test_a_signed_in_user_without_a_role_is_refused_every_dashboard_page_and_told_to_ask_an_editor(client, outsider):
    client.force_login(outsider)
    paths = _dashboard_paths()
    assert len(paths) >= 40
    for path in paths:
        for method in (client.get, client.post):
            response = method(path)
            assert response.status_code == 403, f"{method.__name__.upper()} {path} → {response.status_code}"
            assert "ask an editor for access" in response.content.decode(), path
    response = client.get(reverse("invoices"), headers={"HX-Request": "true"})
    assert response.status_code == 403


def test_the_header_of_the_refusal_names_no_role_it_does_not_have(client, viewer, outsider):
    client.force_login(outsider)
    assert '<span class="role">No role</span>' in client.get(reverse("invoices")).content.decode()
    client.force_login(viewer)
    assert '<span class="role">Viewer</span>' in client.get(reverse("invoices")).content.decode()


def test_a_user_without_a_role_can_still_log_out_and_see_the_login_and_health_pages(client, outsider):
    client.force_login(outsider)
    assert client.get(reverse("health")).status_code == 200
    assert client.get(reverse("login")).status_code in (200, 302)
    assert client.post(reverse("logout")).status_code == 302
    assert client.get(reverse("home")).status_code == 302  # signed out: back to the login page


def test_a_superuser_without_a_role_reads_the_dashboard(client, outsider):
    outsider.is_superuser = True
    outsider.save()
    client.force_login(outsider)
    assert client.get(reverse("home")).status_code == 200


def test_a_staff_user_without_a_role_reaches_the_admin_but_not_the_dashboard(client, outsider):
    outsider.is_staff = True
    outsider.save()
    client.force_login(outsider)
    assert client.get(reverse("admin:index")).status_code == 200
    assert client.get(reverse("invoices")).status_code == 403


@pytest.mark.parametrize("name", PAGES)
def test_viewers_and_editors_read_every_page(client, viewer, editor, name):
    for user in (viewer, editor):
        client.force_login(user)
        assert client.get(reverse(name)).status_code == 200
