"""Database and broker outages seen from a long-running loop (the dispatcher).

PostgreSQL or Redis restarting is a normal event: the loop's connection is then unusable, and
every tick fails until it is dropped and a new one opened. `Outage` runs each tick, drops a lost
connection, backs off (0.5 s doubling to 10 s) and logs one line when an outage begins and one
when it ends, not a traceback per tick.
"""

import contextlib
import logging
import time
from collections.abc import Callable

from django.db import DatabaseError, InterfaceError, OperationalError, connection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from notifications.backoff import doubling_wait

logger = logging.getLogger(__name__)

FIRST_WAIT = 0.5  # seconds before the first retry; doubled after each failed one
LONGEST_WAIT = 10.0


# SQLSTATEs of a session the server ended (admin_shutdown, crash_shutdown, cannot_connect_now,
# idle_session_timeout); class 08 is "connection exception".
SESSION_ENDED = {"57P01", "57P02", "57P03", "57P05"}


def connection_lost(error: BaseException) -> bool:
    """Whether `error` means the connection to the database or the broker is gone, rather than
    one query failing on it (a deadlock, a timeout); if so the database connection is closed and
    the next query opens a new one. Judged by the error, not by the connection: leaving a failed
    transaction, Django may already have opened a new one. (Redis's client reconnects itself.)"""
    if isinstance(error, (RedisConnectionError, RedisTimeoutError)):
        return True
    if isinstance(error, InterfaceError):  # used after it was closed
        lost = True
    elif isinstance(error, OperationalError) and connection.vendor == "postgresql":
        state = getattr(error.__cause__, "sqlstate", None)  # None: psycopg's own (refused, closed, cut off)
        lost = state is None or state.startswith("08") or state in SESSION_ENDED
    else:
        lost = False
    if lost:
        with contextlib.suppress(DatabaseError):
            connection.close()
    return lost


def error_line(error: BaseException) -> str:
    """The error in one log line (psycopg's messages run over several)."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"


class Outage:
    """The outages of one loop, named `loop` in its log lines."""

    def __init__(self, loop: str, *, first_wait: float = FIRST_WAIT, longest_wait: float = LONGEST_WAIT):
        self.loop = loop
        self.first_wait, self.longest_wait = first_wait, longest_wait
        self.began: float | None = None  # time.monotonic() of the first failed tick
        self.failed_ticks = 0

    @property
    def ongoing(self) -> bool:
        return self.began is not None

    def backoff(self) -> float:
        """Seconds to wait before the next tick while the outage lasts."""
        return doubling_wait(self.first_wait, self.failed_ticks, longest=self.longest_wait)

    def run[T](self, tick: Callable[[], T]) -> T | None:
        """Run one tick of the loop: its result, or None when it failed because the database or
        the broker is out of reach (the outage is logged when it begins; `backoff` says how long
        to wait). Any other error goes up to the loop."""
        try:
            result = tick()
        except Exception as error:
            if not connection_lost(error):
                raise
            if self.began is None:
                self.began = time.monotonic()
                logger.warning(
                    "%s: lost the database or broker (%s); retrying every %g s up to %g s until it is back",
                    self.loop, error_line(error), self.first_wait, self.longest_wait,
                )  # fmt: skip
            self.failed_ticks += 1
            return None
        if self.began is not None:
            logger.info(
                "%s: the database and broker are back after %.1f s (%d failed attempts)",
                self.loop, time.monotonic() - self.began, self.failed_ticks,
            )  # fmt: skip
            self.began, self.failed_ticks = None, 0
        return result
