"""The audit log: who changed what, when. Bottom layer, next to frame: it imports none of the
apps, so every app's services can record their changes with `audit.record(...)` (audit.log)."""


def record(action: str, obj=None, **details):
    """See audit.log.record (imported on first use: this package loads before the app registry)."""
    from audit.log import record as record_change

    return record_change(action, obj, **details)


def fields(obj, *names: str) -> dict:
    """See audit.log.fields."""
    from audit.log import fields as named_fields

    return named_fields(obj, *names)
