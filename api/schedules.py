"""Periodic tasks of the API (registered by `manage.py register_schedules`): every hour, the
idempotency keys older than 24 hours are deleted (every SDK POST sends one)."""

SCHEDULES = {"idempotency_purge": ("api.tasks.purge_idempotency_keys", (), 60)}
