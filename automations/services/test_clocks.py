"""Advancing a test clock: billing checks and records the advance, a worker walks it."""

from datetime import datetime

from django.db import transaction

from automations import queue
from billing.models import ClockAdvance, TestClock
from billing.services.test_clocks import clock_start_advance


def advance_clock(*, test_clock: TestClock, to: datetime, user=None) -> ClockAdvance:
    """Start advancing `test_clock` to `to` (a ClockError says why not); a worker task walks it
    once the request commits. The clock shows `advancing` until it is done."""
    with transaction.atomic():
        advance = clock_start_advance(test_clock=test_clock, to=to, user=user)
        transaction.on_commit(lambda: queue.enqueue_clock_advance(advance.pk))
    return advance
