"""The one source of "now" for billing code.

Every billing service and job asks this module for the time. A customer on a test clock lives
at the clock's frozen time; everyone else at the real time. `travel(moment)` makes billing code
live at another moment for the duration of a block: the demo builds its history this way, and a
test clock's advance walks its customers through time this way.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime

from django.utils import timezone

_travel_to: ContextVar[datetime | None] = ContextVar("billing_clock_travel_to", default=None)


def now(*, customer=None) -> datetime:
    """The current time for billing decisions (about `customer`, when one is concerned): the
    moment travelled to, else the frozen time of the customer's test clock, else the real time."""
    if (moment := _travel_to.get()) is not None:
        return moment
    if customer is not None and customer.test_clock_id:
        return customer.test_clock.frozen_time
    return timezone.now()


def traveling() -> datetime | None:
    """The moment the current block travelled to, if any."""
    return _travel_to.get()


@contextmanager
def travel(moment: datetime) -> Iterator[datetime]:
    """Run the block with billing's "now" frozen at `moment` (an aware datetime)."""
    if timezone.is_naive(moment):
        raise ValueError("travel() needs an aware datetime")
    token = _travel_to.set(moment)
    try:
        yield moment
    finally:
        _travel_to.reset(token)
