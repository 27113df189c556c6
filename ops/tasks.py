"""django-q2 entry points of the ops app."""

from ops.services import WORKER, beat


def heartbeat() -> None:
    """Scheduled every minute: a worker that runs it is alive and picking up tasks."""
    beat(WORKER, force=True)
