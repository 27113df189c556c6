"""Login throttling: after 5 failed logins for one username from one address within 15 minutes,
further attempts (on the dashboard and the admin login) are refused with a 429 that says why,
without hashing a password, until the window passes; a successful login resets the count."""

from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.hashers import MD5PasswordHasher
from django.urls import reverse
from django.utils import timezone

pytestmark = pytest.mark.django_db

LOGIN_PAGES = ["login", "admin:login"]


class CountingHasher(MD5PasswordHasher):
    """The test hasher, counting every password it hashes or checks."""

    calls = 0

    def encode(self, password, salt):
        type(self).calls += 1
        return super().encode(password, salt)


@pytest.fixture(autouse=True)
def counting_hasher(settings):
    settings.PASSWORD_HASHERS = ["tests.config.test_login_throttle.CountingHasher"]
    CountingHasher.calls = 0
    return CountingHasher


def _login(client, page, username, password, address="203.0.113.7"):
    return client.post(reverse(page), {"username": username, "password": password}, REMOTE_ADDR=address)


def _fail(client, page, times, username="eddie", address="203.0.113.7"):
    for _ in range(times):
        response = _login(client, page, username, "wrong", address)
        assert response.status_code == 200  # the form again, with its error


@pytest.mark.parametrize("page", LOGIN_PAGES)
def test_it_refuses_the_attempt_after_five_failures_with_a_429_that_says_why(client, editor, page):
    _fail(client, page, 5)
    response = _login(client, page, "eddie", "wrong")
    assert response.status_code == 429
    text = response.content.decode()
    assert "Too many failed logins" in text
    assert "15 minutes" in text
    assert 0 < int(response["Retry-After"]) <= 15 * 60


@pytest.mark.parametrize("page", LOGIN_PAGES)
def test_a_refused_attempt_hashes_no_password_even_the_right_one(client, editor, counting_hasher, page):
    editor.is_staff = True
    editor.save()
    counting_hasher.calls = 0
    _fail(client, page, 5)
    assert counting_hasher.calls == 5  # each failure checked a password
    assert _login(client, page, "eddie", "pw-eddie").status_code == 429
    assert _login(client, page, "eddie", "wrong").status_code == 429
    assert _login(client, page, "nobody", "wrong").status_code == 200  # another username is still checked
    assert counting_hasher.calls == 6
    assert "_auth_user_id" not in client.session


def test_four_failures_still_let_the_right_password_in_and_a_success_resets_the_count(client, editor):
    _fail(client, "login", 4)
    assert _login(client, "login", "eddie", "pw-eddie").status_code == 302
    client.logout()
    _fail(client, "login", 4)  # counted from zero again: not locked
    assert _login(client, "login", "eddie", "pw-eddie").status_code == 302


def test_the_lock_is_for_one_username_from_one_address(client, editor, viewer):
    _fail(client, "login", 5)
    assert _login(client, "login", "eddie", "wrong").status_code == 429
    assert _login(client, "login", "vera", "pw-vera").status_code == 302  # another user, same address
    client.logout()
    assert _login(client, "login", "eddie", "pw-eddie", address="198.51.100.2").status_code == 302


def test_the_username_is_matched_whatever_its_case(client, editor):
    _fail(client, "login", 5, username="Eddie")
    assert _login(client, "login", "eddie", "pw-eddie").status_code == 429


def test_the_lock_ends_when_the_window_passes(client, editor):
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        _fail(client, "login", 5)
        traveller.shift(timedelta(minutes=14))
        assert _login(client, "login", "eddie", "pw-eddie").status_code == 429
        traveller.shift(timedelta(minutes=1, seconds=1))
        assert _login(client, "login", "eddie", "pw-eddie").status_code == 302


def test_failures_spread_over_more_than_the_window_do_not_lock(client, editor):
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        _fail(client, "login", 4)
        traveller.shift(timedelta(minutes=16))
        _fail(client, "login", 4)
        assert _login(client, "login", "eddie", "pw-eddie").status_code == 302


def test_failures_on_the_dashboard_and_the_admin_login_add_up(client, editor):
    _fail(client, "login", 3)
    _fail(client, "admin:login", 2)
    assert _login(client, "login", "eddie", "pw-eddie").status_code == 429


def test_behind_a_proxy_the_address_is_the_one_the_proxy_saw(client, editor, settings):
    settings.BEHIND_PROXY = True
    for _ in range(5):
        client.post(
            reverse("login"), {"username": "eddie", "password": "wrong"},
            REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.7",
        )  # fmt: skip
    refused = client.post(
        reverse("login"), {"username": "eddie", "password": "pw-eddie"},
        REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.7",
    )  # fmt: skip
    assert refused.status_code == 429
    other = client.post(
        reverse("login"), {"username": "eddie", "password": "pw-eddie"},
        REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.8",
    )  # fmt: skip
    assert other.status_code == 302


def test_force_login_and_client_login_still_work_in_tests(client, editor):
    assert client.login(username="eddie", password="pw-eddie")
    client.logout()
    client.force_login(editor)
    assert client.get(reverse("home")).status_code == 200
