import os

import pytest
from django.contrib.auth.models import Group, User
from django.core.cache import cache
from django.db import connection

from frame.permissions import EDITORS, VIEWERS
from tests.browser.screens import CHROMIUM


def pytest_runtest_setup(item):
    """Tests marked `postgres` skip on SQLite, except in CI where a missing PostgreSQL fails."""
    if item.get_closest_marker("postgres") and connection.vendor != "postgresql":
        if os.environ.get("CI"):
            pytest.fail("This test needs PostgreSQL: CI must run with DATABASE_URL=postgres://…")
        pytest.skip("needs PostgreSQL (row locks, concurrency): run with DATABASE_URL=postgres://…")
    if item.get_closest_marker("browser") and not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"This test needs Debian's Chromium at {CHROMIUM}: CI installs the chromium package.")
        pytest.skip(f"needs Debian's Chromium at {CHROMIUM} (apt-get install chromium)")


@pytest.fixture(autouse=True)
def _clear_cache():
    # django-money caches exchange rates; each test starts from the database.
    cache.clear()
    yield
    cache.clear()


def _user(username: str, group: str | None) -> User:
    user = User.objects.create_user(username=username, password="pw-" + username, email=f"{username}@team.example")
    if group:
        # get_or_create: transactional tests (live_server) flush the groups the migration made.
        user.groups.add(Group.objects.get_or_create(name=group)[0])
    return user


@pytest.fixture
def editor(db) -> User:
    return _user("eddie", EDITORS)


@pytest.fixture
def viewer(db) -> User:
    return _user("vera", VIEWERS)


@pytest.fixture
def outsider(db) -> User:
    """Logged in, but in neither role."""
    return _user("olga", None)


@pytest.fixture
def editor_client(client, editor):
    client.force_login(editor)
    return client


@pytest.fixture
def viewer_client(client, viewer):
    client.force_login(viewer)
    return client
