"""Periodic tasks of the engine (registered by `manage.py register_schedules`)."""

SCHEDULES = {"sweep": ("automations.tasks.sweep", (), 1)}
