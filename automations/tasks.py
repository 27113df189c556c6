"""django-q2 entry points of the engine. Each takes an id (or nothing) and calls the engine."""


def handle_event(event_id: int) -> bool:
    from automations.engine.handling import handle_event as handle

    return handle(event_id)


def handle_events(event_ids: list[int]) -> int:
    """A batch of events recorded together (the overdue sweep), handled as by handle_event in one
    pass (`handle_batch`); if the batch fails unexpectedly, each event is handled on its own, and
    one failing does not hold up the others (the engine's sweep handles it again later)."""
    import logging

    from automations.engine.handling import handle_batch
    from automations.engine.handling import handle_event as handle
    from automations.outages import connection_lost, error_line

    logger = logging.getLogger(__name__)
    try:
        return handle_batch(event_ids)
    except Exception as error:
        if connection_lost(error):  # each would fail the same way; the engine's sweep handles them later
            logger.warning("batch of %s events not handled: %s", len(event_ids), error_line(error))
            return 0
        logger.exception("batch of %s events failed: handling them one by one", len(event_ids))
    handled = 0
    for event_id in event_ids:
        try:
            handled += bool(handle(event_id))
        except Exception:
            logger.exception("event %s could not be handled", event_id)
    return handled


def execute_step(step_id: int) -> str | None:
    from automations.engine.dispatch import execute_step as execute

    return execute(step_id)


def execute_steps(step_ids: list[int]) -> int:
    """Steps the dispatcher claimed together (see dispatch.execute_steps)."""
    from automations.engine.dispatch import execute_steps as execute

    return execute(step_ids)


def sweep() -> int:
    """Handle events whose task was lost, and run due steps (a safety net for the dispatcher)."""
    from automations.engine.dispatch import dispatch_due
    from automations.engine.handling import handle_unhandled

    return handle_unhandled() + dispatch_due()
