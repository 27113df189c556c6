from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from billing import clock, services
from billing.models import Event


def test_now_is_the_real_time_by_default():
    assert abs(clock.now() - timezone.now()) < timedelta(seconds=1)


def test_travel_freezes_billing_time_for_the_block_only():
    moment = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    with clock.travel(moment):
        assert clock.now() == moment
    assert clock.now() > moment


def test_travel_refuses_a_naive_datetime():
    with pytest.raises(ValueError, match="aware"), clock.travel(datetime(2026, 3, 1)):
        pass


@pytest.mark.django_db
def test_objects_and_events_made_while_travelling_carry_that_time():
    moment = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    with clock.travel(moment):
        customer = services.customer_create(name="Past Co", email="past@example.com")
    assert customer.created == moment
    assert Event.objects.get(object_id=customer.public_id).created == moment
