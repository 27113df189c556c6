"""The hourly purge of idempotency keys (a job, not an endpoint: no SDK here)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from api.keys import api_key_create
from api.models import IdempotentRequest
from api.tasks import purge_idempotency_keys

pytestmark = pytest.mark.django_db


def test_the_purge_deletes_the_keys_older_than_a_day_and_keeps_the_others():
    api_key = api_key_create(name="Tests").api_key
    now = timezone.now()
    for key, age in (("old", timedelta(hours=24, seconds=1)), ("day", timedelta(hours=24)), ("new", timedelta())):
        IdempotentRequest.objects.create(
            api_key=api_key, key=key, method="POST", path="/v1/customers", fingerprint="f", status=200,
            created=now - age,
        )  # fmt: skip
    assert purge_idempotency_keys() == 2
    assert list(IdempotentRequest.objects.values_list("key", flat=True)) == ["new"]
