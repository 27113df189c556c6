"""The one source of "now" for billing code.

Every billing service and job asks this module for the time. `travel(moment)` makes billing
code live at another moment for the duration of a block (the demo builds its history this
way); later, a customer on a test clock will plug in here too.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime

from django.utils import timezone

_travel_to: ContextVar[datetime | None] = ContextVar("billing_clock_travel_to", default=None)


def now(*, customer=None) -> datetime:
    """The current time for billing decisions (about `customer`, when one is concerned)."""
    return _travel_to.get() or timezone.now()


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
