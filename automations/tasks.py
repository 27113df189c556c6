"""django-q2 entry points of the engine. Each takes an id (or nothing) and calls the engine
(`automations.queue` queues them)."""

import logging

from automations.engine import clockwork, dispatch, handling
from automations.outages import connection_lost, error_line
from automations.services import backtests

logger = logging.getLogger(__name__)


def handle_event(event_id: int) -> bool:
    return handling.handle_event(event_id)


def handle_events(event_ids: list[int]) -> int:
    """A batch of events recorded together (the overdue sweep), handled as by handle_event in one
    pass (`handle_batch`); if the batch fails unexpectedly, each event is handled on its own, and
    one failing does not hold up the others (the engine's sweep handles it again later)."""
    try:
        return handling.handle_batch(event_ids)
    except Exception as error:
        if connection_lost(error):  # each would fail the same way; the engine's sweep handles them later
            logger.warning("batch of %s events not handled: %s", len(event_ids), error_line(error))
            return 0
        logger.exception("batch of %s events failed: handling them one by one", len(event_ids))
    handled = 0
    for event_id in event_ids:
        try:
            handled += bool(handling.handle_event(event_id))
        except Exception:
            logger.exception("event %s could not be handled", event_id)
    return handled


def execute_step(step_id: int) -> str | None:
    return dispatch.execute_step(step_id)


def execute_steps(step_ids: list[int]) -> int:
    """Steps the dispatcher claimed together (see dispatch.execute_steps)."""
    return dispatch.execute_steps(step_ids)


def sweep() -> int:
    """Handle events whose task was lost, and run due steps (a safety net for the dispatcher)."""
    return handling.handle_unhandled() + dispatch.dispatch_due()


def advance_test_clock(advance_id: int) -> None:
    """Walk a test clock's advance (see clockwork.advance_test_clock)."""
    clockwork.advance_test_clock(advance_id)


def run_backtest(backtest_id: int) -> None:
    """Replay a backtest's window of events (see automations.services.backtests)."""
    backtests.run_backtest(backtest_id)
