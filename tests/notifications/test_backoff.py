"""The one backoff rule: a first wait, doubled after each failed attempt, up to the longest."""

from datetime import timedelta

from notifications.backoff import doubling_wait


def test_it_doubles_the_wait_after_each_failed_attempt():
    waits = [doubling_wait(timedelta(minutes=1), attempt) for attempt in range(1, 5)]
    assert waits == [timedelta(minutes=1), timedelta(minutes=2), timedelta(minutes=4), timedelta(minutes=8)]


def test_it_never_waits_longer_than_the_longest_wait():
    assert doubling_wait(timedelta(seconds=30), 20, longest=timedelta(hours=6)) == timedelta(hours=6)


def test_it_waits_the_first_wait_before_any_attempt_failed():
    assert doubling_wait(0.5, 0, longest=10.0) == 0.5


def test_it_counts_in_seconds_as_well_as_in_timedeltas():
    assert [doubling_wait(0.5, attempt, longest=10.0) for attempt in range(1, 8)] == [0.5, 1, 2, 4, 8, 10, 10]
