"""Periodic tasks of the notifications app (registered by `manage.py register_schedules`)."""

SCHEDULES = {"sweep": ("notifications.tasks.run_sweep", (), 1)}
