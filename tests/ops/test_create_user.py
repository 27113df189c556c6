"""`manage.py create_user` makes the first editor, or gives an existing user a role; the password
comes from a prompt or stdin, never from the command line."""

import io

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import CommandError, call_command

from frame.permissions import EDITORS, VIEWERS, has_role, is_editor

pytestmark = pytest.mark.django_db

PASSWORD = "a long and unguessable pass phrase"


def create_user(*args, stdin: str = "", **options) -> str:
    out = io.StringIO()
    call_command("create_user", *args, stdin=io.StringIO(stdin), stdout=out, **options)
    return out.getvalue()


def roles(username: str) -> set[str]:
    return set(User.objects.get(username=username).groups.values_list("name", flat=True))


def test_it_creates_an_editor_whose_password_comes_from_stdin():
    out = create_user(
        "alice", "--role", "editor", "--email", "alice@example.com", "--password-stdin", stdin=PASSWORD + "\n"
    )
    alice = User.objects.get(username="alice")
    assert alice.email == "alice@example.com" and alice.check_password(PASSWORD)
    assert is_editor(alice) and roles("alice") == {EDITORS}
    assert not alice.is_staff and not alice.is_superuser
    assert "Created alice, an editor." in out


def test_it_gives_an_existing_user_a_role_and_takes_the_other_one_away(viewer):
    out = create_user(viewer.username, "--role", "editor")
    assert roles(viewer.username) == {EDITORS}
    assert User.objects.get(pk=viewer.pk).check_password("pw-" + viewer.username)  # unchanged
    assert f"{viewer.username} is now an editor (was a viewer)." in out
    create_user(viewer.username, "--role", "viewer")
    user = User.objects.get(pk=viewer.pk)
    assert roles(viewer.username) == {VIEWERS} and has_role(user) and not is_editor(user)


def test_running_it_twice_changes_nothing_the_second_time(editor):
    create_user(editor.username, "--role", "editor")
    out = create_user(editor.username, "--role", "editor")
    assert roles(editor.username) == {EDITORS}
    assert f"{editor.username} is already an editor." in out
    assert User.objects.count() == 1


def test_other_groups_of_the_user_are_left_alone(editor):
    editor.groups.add(Group.objects.create(name="Finance"))
    create_user(editor.username, "--role", "viewer")
    assert roles(editor.username) == {VIEWERS, "Finance"}


def test_it_changes_an_existing_users_password_only_when_one_is_given_on_stdin(editor):
    create_user(editor.username, "--role", "editor", "--password-stdin", stdin=PASSWORD)
    assert User.objects.get(pk=editor.pk).check_password(PASSWORD)


def test_an_unknown_role_is_refused_with_the_roles_it_knows():
    with pytest.raises(CommandError, match="invalid choice: 'admin'.*'editor', 'viewer'"):
        create_user("alice", "--role", "admin")
    assert not User.objects.exists()


def test_the_role_is_required():
    with pytest.raises(CommandError, match="--role"):
        create_user("alice")


def test_with_existing_a_missing_user_is_an_error_not_a_new_user():
    with pytest.raises(CommandError, match="No user named 'bob'"):
        create_user("bob", "--role", "viewer", "--existing")
    assert not User.objects.exists()


def test_a_new_user_without_a_password_is_refused_when_nobody_can_type_one():
    with pytest.raises(CommandError, match="needs a password.*--password-stdin"):
        create_user("alice", "--role", "editor")
    assert not User.objects.exists()


def test_a_weak_password_is_refused_with_django_s_reasons():
    with pytest.raises(CommandError, match="too common"):
        create_user("alice", "--role", "editor", "--password-stdin", stdin="password\n")
    assert not User.objects.exists()


def test_an_empty_password_on_stdin_is_refused():
    with pytest.raises(CommandError, match="empty"):
        create_user("alice", "--role", "editor", "--password-stdin", stdin="\n")


def test_a_password_on_the_command_line_is_refused_with_the_reason_and_not_echoed():
    with pytest.raises(CommandError, match=r"--password is not accepted.*\(ps\).*--password-stdin") as refused:
        create_user("alice", "--role", "editor", "--password", PASSWORD)
    assert PASSWORD not in str(refused.value)
    assert not User.objects.exists()


def test_a_bad_email_is_refused():
    with pytest.raises(CommandError, match="email"):
        create_user("alice", "--role", "editor", "--email", "not-an-address", "--password-stdin", stdin=PASSWORD)
    assert not User.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_in_a_terminal_it_asks_for_the_new_users_password_twice(settings):
    """The first-run step as an operator types it: `manage.py create_user` in a terminal."""
    import os
    import pty
    import select
    import subprocess
    import sys
    import time

    from django.db import connection

    from tests.faults.conftest import ROOT

    db = connection.settings_dict
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "1",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
    }  # fmt: skip
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "create_user", "alice", "--role", "viewer"],
        cwd=ROOT, env=env, stdin=terminal, stdout=terminal, stderr=terminal, start_new_session=True,
    )  # fmt: skip
    os.close(terminal)
    screen = bytearray()

    def read_until(marker: bytes) -> None:
        deadline = time.monotonic() + 30
        while marker not in screen and time.monotonic() < deadline:
            if select.select([controller], [], [], 0.5)[0]:
                try:
                    screen.extend(os.read(controller, 1024))
                except OSError:  # the command ended and closed the terminal
                    return

    try:
        read_until(b"Password: ")
        os.write(controller, PASSWORD.encode() + b"\n")
        read_until(b"Password (again): ")
        os.write(controller, PASSWORD.encode() + b"\n")
        read_until(b"Created")
        assert proc.wait(timeout=30) == 0, bytes(screen)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(controller)
    assert b"Password (again)" in screen
    assert PASSWORD.encode() not in screen  # not echoed
    assert b"Created alice, a viewer." in screen
    from django.conf import global_settings

    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS  # the command hashed it as production does
    alice = User.objects.get(username="alice")
    assert alice.check_password(PASSWORD) and roles("alice") == {VIEWERS}
