"""Runs by hand: an editor cancels one run in progress."""

from django.db import transaction

import audit
from automations.engine.runs import finish_run
from automations.models import Run, RunStatus
from billing.errors import DomainError


class RunNotActive(DomainError):
    """The run has already finished: there is nothing left to cancel."""


def cancel_reason(user=None) -> str:
    name = user.get_username() if user is not None and getattr(user, "is_authenticated", False) else ""
    return f"canceled by {name}" if name else "canceled by hand"


def run_cancel(*, run: Run, user=None) -> Run:
    """Cancel an active run now: its pending steps are canceled with the reason, none runs again.

    1. Lock the run row, so a worker finishing its last step cannot complete it at the same time.
    2. Refuse a run that is no longer active (RunNotActive says how it ended).
    3. Close it as the engine closes runs (engine.runs.finish_run): status, reason, finish time,
       and every pending step canceled in the same transaction. A step a worker is executing right
       now records its own outcome; the run stays canceled and nothing after it runs.
    """
    with transaction.atomic():
        locked = Run.objects.select_for_update().get(pk=run.pk)
        if locked.status != RunStatus.ACTIVE:
            raise RunNotActive(f"This run has already finished ({locked.get_status_display().lower()}).")
        finish_run(locked, RunStatus.CANCELED, cancel_reason(user))
        audit.record(
            "run.canceled",
            locked,
            summary=f"A run of “{locked.automation}” on {locked.object_id}, with its pending steps.",
            before={"status": RunStatus.ACTIVE},
            after={"status": locked.status},
        )
    run.status, run.reason, run.finished_at = locked.status, locked.reason, locked.finished_at
    return locked
