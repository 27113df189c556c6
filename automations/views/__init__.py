"""Dashboard views of the automations: thin, calling automations.services."""

from automations.views.builder import automation_edit, automation_new
from automations.views.detail import automation_detail, run_cancel, run_detail
from automations.views.listing import automation_list, automation_move, automation_reorder, automation_toggle

__all__ = [
    "automation_detail",
    "automation_edit",
    "automation_list",
    "automation_move",
    "automation_new",
    "automation_reorder",
    "automation_toggle",
    "run_cancel",
    "run_detail",
]
