"""Test clocks in billing: creating one, the customers on it, how far an advance may go, one
advance at a time even when two requests race, and deleting a clock with its objects."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from billing import clock, services
from billing.models import ClockAdvance, Customer
from billing.models import TestClock as Clock
from billing.models import TestClockStatus as ClockStatus
from billing.services.test_clocks import (
    MAX_CUSTOMERS,
    ClockError,
    clock_create,
    clock_delete,
    clock_start_advance,
    latest_advance_target,
)
from tests.factories import make_price

pytestmark = pytest.mark.django_db

START = datetime(2025, 1, 31, 12, 0, tzinfo=UTC)


def test_a_clock_needs_a_name_and_an_aware_start_time():
    with pytest.raises(ClockError, match="needs a name"):
        clock_create(name="  ", frozen_time=START)
    with pytest.raises(ClockError, match="time zone"):
        clock_create(name="Naive", frozen_time=datetime(2025, 1, 1))
    assert clock_create(name="Rehearsal", frozen_time=START).public_id.startswith("clock_")


def test_customers_on_a_clock_live_at_its_time_and_others_at_the_real_time():
    test_clock = clock_create(name="Rehearsal", frozen_time=START)
    on_clock = services.customer_create(name="On", email="on@example.com", test_clock=test_clock)
    real = services.customer_create(name="Real", email="real@example.com")
    assert clock.now(customer=on_clock) == START
    assert clock.now(customer=real) > START + timedelta(days=300)
    assert on_clock.created == START


def test_a_clock_holds_at_most_its_limit_of_customers():
    test_clock = clock_create(name="Rehearsal", frozen_time=START)
    for n in range(MAX_CUSTOMERS):
        services.customer_create(name=f"C{n}", email=f"c{n}@example.com", test_clock=test_clock)
    with pytest.raises(ClockError, match=f"at most {MAX_CUSTOMERS} customers"):
        services.customer_create(name="One more", email="more@example.com", test_clock=test_clock)
    assert Customer.objects.filter(test_clock=test_clock).count() == MAX_CUSTOMERS


def test_no_customer_joins_a_clock_while_it_advances():
    test_clock = clock_create(name="Rehearsal", frozen_time=START)
    Clock.objects.filter(pk=test_clock.pk).update(status=ClockStatus.ADVANCING)
    with pytest.raises(ClockError, match="is advancing"):
        services.customer_create(name="Late", email="late@example.com", test_clock=test_clock)


def test_an_advance_may_go_two_intervals_of_the_longest_live_subscription():
    test_clock = clock_create(name="Rehearsal", frozen_time=START)
    assert latest_advance_target(test_clock) == datetime(2027, 1, 31, 12, 0, tzinfo=UTC)  # none: two years
    customer = services.customer_create(name="M", email="m@example.com", test_clock=test_clock)
    services.subscription_create(customer=customer, items=[(make_price("10.00", interval="month"), 1)])
    assert latest_advance_target(test_clock) == datetime(2025, 3, 31, 12, 0, tzinfo=UTC)  # two months
    other = services.customer_create(name="Y", email="y@example.com", test_clock=test_clock)
    services.subscription_create(customer=other, items=[(make_price("100.00", interval="year"), 1)])
    assert latest_advance_target(test_clock) == datetime(2027, 1, 31, 12, 0, tzinfo=UTC)  # the longest: a year


def test_an_advance_marks_the_clock_advancing_and_records_where_it_goes():
    test_clock = clock_create(name="Rehearsal", frozen_time=START)
    advance = clock_start_advance(test_clock=test_clock, to=START + timedelta(days=3))
    test_clock.refresh_from_db()
    assert test_clock.status == ClockStatus.ADVANCING
    assert (advance.from_time, advance.to_time) == (START, START + timedelta(days=3))
    with pytest.raises(ClockError, match="already advancing"):
        clock_start_advance(test_clock=test_clock, to=START + timedelta(days=4))


def test_a_clock_cannot_be_deleted_while_it_advances():
    test_clock = clock_create(name="Rehearsal", frozen_time=START)
    clock_start_advance(test_clock=test_clock, to=START + timedelta(days=3))
    with pytest.raises(ClockError, match="delete it once it is ready"):
        clock_delete(test_clock=test_clock)


def test_deleting_a_clock_leaves_other_customers_alone():
    test_clock = clock_create(name="Rehearsal", frozen_time=START)
    services.customer_create(name="On", email="on@example.com", test_clock=test_clock)
    real = services.customer_create(name="Real", email="real@example.com")
    assert clock_delete(test_clock=test_clock)["customers"] == 1
    assert list(Customer.objects.all()) == [real]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_of_two_advances_requested_at_the_same_moment_exactly_one_starts():
    test_clock = clock_create(name="Rehearsal", frozen_time=START)
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def request(days: int) -> None:
        try:
            barrier.wait()
            clock_start_advance(test_clock=test_clock, to=START + timedelta(days=days))
            outcomes.append("started")
        except ClockError as error:
            outcomes.append(error.message)
        finally:
            connection.close()

    threads = [threading.Thread(target=request, args=(n,)) for n in range(1, 5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert outcomes.count("started") == 1, outcomes
    assert all("already advancing" in outcome for outcome in outcomes if outcome != "started")
    assert ClockAdvance.objects.count() == 1
