from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError

from billing.models import RetryPolicy, ScheduleKind


def test_n_retries_within_d_days_are_spread_evenly():
    policy = RetryPolicy(name="x", schedule_kind=ScheduleKind.WITHIN_DAYS, max_retries=4, within_days=14)
    assert policy.retry_offsets() == [timedelta(days=3.5 * i) for i in range(1, 5)]


def test_explicit_day_offsets_are_used_as_given():
    policy = RetryPolicy(name="x", schedule_kind=ScheduleKind.DAY_OFFSETS, day_offsets=[1, 3, 7])
    assert policy.retry_offsets() == [timedelta(days=1), timedelta(days=3), timedelta(days=7)]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "field_in_error"),
    [
        ({"max_retries": 9}, "max_retries"),
        ({"within_days": 61}, "within_days"),
        ({"within_days": 0}, "within_days"),
        ({"schedule_kind": ScheduleKind.DAY_OFFSETS, "day_offsets": []}, "day_offsets"),
        ({"schedule_kind": ScheduleKind.DAY_OFFSETS, "day_offsets": [1, 2, 3, 4, 5, 6, 7, 8, 9]}, "day_offsets"),
        ({"schedule_kind": ScheduleKind.DAY_OFFSETS, "day_offsets": [3, 1]}, "day_offsets"),
        ({"schedule_kind": ScheduleKind.DAY_OFFSETS, "day_offsets": [0, 1]}, "day_offsets"),
        ({"schedule_kind": ScheduleKind.DAY_OFFSETS, "day_offsets": [61]}, "day_offsets"),
        ({"schedule_kind": ScheduleKind.DAY_OFFSETS, "day_offsets": ["2"]}, "day_offsets"),
    ],
)
def test_a_schedule_outside_the_limits_is_refused_with_a_message(fields, field_in_error):
    policy = RetryPolicy(name="bad", **fields)
    with pytest.raises(ValidationError) as exc:
        policy.full_clean()
    assert field_in_error in exc.value.message_dict
