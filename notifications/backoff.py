"""The backoff rule shared by the workers that retry: a first wait, doubled after each failed
attempt, never longer than the longest wait. It lives in the lowest layer that retries (webhook
deliveries); the step dispatcher and the workers' outage loops use it too. Email keeps its own
fixed schedule of waits (notifications.email.RETRY_DELAYS): a table, not a doubling."""

from datetime import timedelta


def doubling_wait[W: (timedelta, float)](first: W, attempt: int, *, longest: W | None = None) -> W:
    """The wait after failed attempt number `attempt` (1 for the first): `first` × 2^(attempt − 1),
    capped at `longest`. Attempt 0 (nothing failed yet) waits `first` too. Timedeltas or seconds."""
    wait = first * 2 ** max(0, attempt - 1)
    return wait if longest is None else min(wait, longest)
