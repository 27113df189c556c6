"""Who is acting: a person signed in to the dashboard or the admin, or an API key.

The request sets the actor (`audit.middleware.ActorMiddleware` for people, the API's
authentication for keys); services read it when they record a change. Jobs, the engine and the
demo run with no actor, so what they change is not audited.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass

USER = "user"
API_KEY = "api_key"
KINDS = (USER, API_KEY)


@dataclass(frozen=True)
class Actor:
    kind: str  # USER or API_KEY
    ident: str  # the user's pk or the key's public id, as text
    label: str  # the username or the key's name, as it was at the time


_actor: ContextVar[Actor | None] = ContextVar("audit_actor", default=None)


@contextmanager
def acting_as(kind: str, ident: str, label: str) -> Iterator[Actor]:
    """Record the changes made inside the block as made by this actor."""
    if kind not in KINDS:
        raise ValueError(f"unknown actor kind {kind!r}: expected one of {', '.join(KINDS)}")
    actor = Actor(kind=kind, ident=str(ident), label=str(label))
    token = _actor.set(actor)
    try:
        yield actor
    finally:
        _actor.reset(token)


def current_actor() -> Actor | None:
    return _actor.get()


# django-q2 tasks run as no one. On a worker no actor is ever set; in sync mode (the tests) a task
# runs inside the request that queued it, and would otherwise be audited as that request's person.
_suspended: ContextVar[tuple[Token, ...]] = ContextVar("audit_suspended", default=())


def task_starts(**kwargs) -> None:
    """django-q2's pre_execute: no actor while the task runs."""
    _suspended.set((*_suspended.get(), _actor.set(None)))


def task_ends(**kwargs) -> None:
    """django-q2's post_execute_in_worker (sent on success and on failure): the actor again."""
    *outer, token = _suspended.get() or (None,)
    if token is not None:
        _suspended.set(tuple(outer))
        _actor.reset(token)
