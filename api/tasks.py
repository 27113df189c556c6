"""django-q2 entry points of the API."""

from api.idempotency import idempotency_purge


def purge_idempotency_keys() -> int:
    return idempotency_purge()
