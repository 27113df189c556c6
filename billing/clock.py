"""The one source of "now" for billing code.

Every billing service and job asks this module for the time, so that later a customer on a
test clock can live in simulated time by plugging in here.
"""

from datetime import datetime

from django.utils import timezone


def now(*, customer=None) -> datetime:
    """The current time for billing decisions (about `customer`, when one is concerned)."""
    return timezone.now()
