"""Public prefixed ids (`cus_…`, `in_…`) shown in URLs and event payloads."""

import hashlib
import secrets
import string

from django.db import models

_ALPHABET = string.ascii_letters + string.digits


def new_public_id(prefix: str, length: int = 20) -> str:
    """`<prefix>_` and `length` random letters and digits, from one read of random bytes: the
    bytes below 248 (4 × 62) map evenly onto the 62 characters, the others are dropped."""
    chars: list[str] = []
    while len(chars) < length:
        chars += [_ALPHABET[byte % 62] for byte in secrets.token_bytes(length + 4) if byte < 248]
    return f"{prefix}_" + "".join(chars[:length])


def public_id_for(prefix: str, key: str, length: int = 20) -> str:
    """A public id of `new_public_id`'s shape, always the same for one `key` (e.g. the `evt_` id
    of an automation step's webhook, the same on every execution of the step)."""
    number = int.from_bytes(hashlib.sha256(key.encode()).digest())
    chars = []
    for _ in range(length):
        number, index = divmod(number, len(_ALPHABET))
        chars.append(_ALPHABET[index])
    return f"{prefix}_" + "".join(chars)


class PublicIdField(models.CharField):
    """A unique `<prefix>_<random>` id, filled in on insert (bulk_create included)."""

    def __init__(self, *args, prefix: str, **kwargs):
        self.prefix = prefix
        kwargs.setdefault("max_length", 40)
        kwargs.setdefault("unique", True)
        kwargs.setdefault("editable", False)
        kwargs.setdefault("verbose_name", "ID")
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs["prefix"] = self.prefix
        for key, default in (("max_length", 40), ("unique", True), ("editable", False), ("verbose_name", "ID")):
            if kwargs.get(key) == default:
                kwargs.pop(key)
        return name, path, args, kwargs

    def pre_save(self, model_instance, add):
        value = getattr(model_instance, self.attname)
        if not value:
            value = new_public_id(self.prefix)
            setattr(model_instance, self.attname, value)
        return value


class DocumentField(models.JSONField):
    """A JSONField for large documents (event snapshots, matching records) that bulk inserts
    write as rows of values. Django's PostgreSQL bulk_create otherwise sends each column as one
    array (UNNEST), and psycopg escapes every element of a text array with a Python regex: for
    documents of a few kilobytes that cost more than the insert (bench: event_to_run, sweep)."""

    def get_placeholder_sql(self, value, compiler, connection):
        return "%s", [value]
