"""`manage.py create_api_key`: the new key alone on the last line of the output, for scripts and CI."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from api.keys import authenticate
from api.models import ApiKey

pytestmark = pytest.mark.django_db


def _create(*args: str) -> list[str]:
    out = StringIO()
    call_command("create_api_key", *args, stdout=out)
    return out.getvalue().splitlines()


def test_it_prints_a_secret_key_alone_on_the_last_line_and_it_authenticates():
    lines = _create("--name", "CI")
    key = lines[-1]
    assert key.startswith("sk_test_") and key.strip() == key and " " not in key
    assert len(lines) >= 2 and key not in "\n".join(lines[:-1])
    api_key = authenticate(key)
    assert api_key is not None and api_key.name == "CI" and not api_key.read_only
    assert api_key.created_by is None


def test_read_only_gives_a_restricted_key():
    key = _create("--name", "Reports", "--read-only")[-1]
    assert key.startswith("rk_test_")
    assert authenticate(key).read_only


def test_an_empty_name_is_refused_with_the_reason():
    with pytest.raises(CommandError, match="An API key needs a name"):
        _create("--name", "  ")
    assert not ApiKey.objects.exists()


def test_the_name_is_required():
    with pytest.raises(CommandError, match="--name"):
        _create()
