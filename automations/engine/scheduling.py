"""Step times: after the previous step for trigger-relative triggers, around the anchor date
for date-anchored ones."""

from datetime import datetime, timedelta

UNITS = {"minutes": timedelta(minutes=1), "hours": timedelta(hours=1), "days": timedelta(days=1)}
ANCHORED_UNITS = {unit: UNITS[unit] for unit in ("hours", "days")}  # steps around a date: no minutes


def delay_of(delay: dict) -> timedelta:
    """The signed offset of a step's delay (negative for "before" the anchor)."""
    offset = UNITS[delay["unit"]] * int(delay["amount"])
    return -offset if delay.get("direction") == "before" else offset


def relative_times(start: datetime, delays: list[dict]) -> list[datetime]:
    """Each step waits its delay after the previous one (the first after `start`)."""
    times, moment = [], start
    for delay in delays:
        moment = moment + delay_of(delay)
        times.append(moment)
    return times


def anchored_times(anchor: datetime, delays: list[dict]) -> list[datetime]:
    """Each step N days/hours before or after the anchor date."""
    return [anchor + delay_of(delay) for delay in delays]
