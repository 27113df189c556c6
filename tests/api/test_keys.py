"""API keys: shown once, stored hashed, recognised while live, refused once revoked."""

import pytest

from api.keys import ApiKeyError, api_key_create, api_key_revoke, authenticate, digest
from api.models import ApiKey

pytestmark = pytest.mark.django_db


def test_a_secret_key_is_returned_once_and_stored_only_as_its_hash():
    new = api_key_create(name="Signup flow")
    assert new.secret.startswith("sk_test_") and len(new.secret) > 40
    stored = ApiKey.objects.get()
    assert stored.hashed == digest(new.secret) and new.secret not in stored.hashed
    assert stored.last4 == new.secret[-4:] and stored.redacted == f"sk_…{new.secret[-4:]}"
    assert not stored.read_only


def test_a_restricted_key_is_read_only():
    new = api_key_create(name="Back office", read_only=True)
    assert new.secret.startswith("rk_test_") and new.api_key.read_only


def test_a_live_key_authenticates_and_records_its_last_use():
    new = api_key_create(name="Signup flow")
    assert authenticate(new.secret) == new.api_key
    assert ApiKey.objects.get().last_used_at is not None
    assert authenticate(new.secret[:-1] + "x") is None
    assert authenticate("") is None and authenticate("Bearer nonsense") is None


def test_a_revoked_key_no_longer_authenticates():
    new = api_key_create(name="Old integration")
    api_key_revoke(api_key=new.api_key)
    assert authenticate(new.secret) is None


def test_a_key_needs_a_name():
    with pytest.raises(ApiKeyError, match="needs a name"):
        api_key_create(name="  ")
