"""Periodic tasks of the ops app (registered by `manage.py register_schedules`)."""

SCHEDULES = {"heartbeat": ("ops.tasks.heartbeat", (), 1)}
