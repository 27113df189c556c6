"""Stripe's list object: `{"object": "list", "data", "has_more", "url"}`, newest first.

`limit` is 1..100 (10 by default); `starting_after=<id>` gives the objects older than that one,
`ending_before=<id>` the ones newer than it (the page just before, still newest first). The cursor
is the object's `(created, id)`, so a page is one index range scan however deep it is.
"""

from collections.abc import Callable

from django.core.exceptions import FieldDoesNotExist
from django.db.models import Q, QuerySet

from api.encoding import params
from api.errors import invalid

DEFAULT_LIMIT = 10
PAGE_PARAMS = ("limit", "starting_after", "ending_before")  # every list takes them
MAX_LIMIT = 100


def page_limit(values: dict) -> int:
    raw = values.get("limit", "")
    if raw in ("", None):
        return DEFAULT_LIMIT
    try:
        limit = int(raw)
    except (TypeError, ValueError):
        invalid(f"Invalid integer: {raw}", param="limit")
    if not 1 <= limit <= MAX_LIMIT:
        invalid(f"This value must be greater than or equal to 1 and less than or equal to {MAX_LIMIT}.", param="limit")
    return limit


def _order_field(queryset: QuerySet) -> str | None:
    try:
        queryset.model._meta.get_field("created")
    except FieldDoesNotExist:
        return None
    return "created"


def _cursor(queryset: QuerySet, public_id, param: str):
    if not isinstance(public_id, str) or not public_id:
        invalid(f"Invalid {param}: it must be an object id.", param=param)
    found = queryset.filter(public_id=public_id).values("pk", *([f] if (f := _order_field(queryset)) else [])).first()
    if found is None:
        invalid(f"No such object: '{public_id}'", param=param)
    return found


def stripe_list(request, queryset: QuerySet, serialize: Callable, *, url: str) -> dict:
    """One page of `queryset` (already filtered) as Stripe's list object."""
    values = params(request)
    limit = page_limit(values)
    starting_after = values.get("starting_after") or None
    ending_before = values.get("ending_before") or None
    if starting_after and ending_before:
        invalid("You may only specify one of these parameters: starting_after, ending_before.", param="ending_before")
    field = _order_field(queryset)
    newest_first = [f"-{field}", "-pk"] if field else ["-pk"]
    oldest_first = [field, "pk"] if field else ["pk"]
    if ending_before:
        cursor = _cursor(queryset, ending_before, "ending_before")
        newer = Q(pk__gt=cursor["pk"])
        if field:
            newer = Q(**{f"{field}__gt": cursor[field]}) | (Q(**{field: cursor[field]}) & newer)
        rows = list(queryset.filter(newer).order_by(*oldest_first)[: limit + 1])
        has_more = len(rows) > limit
        rows = rows[:limit][::-1]
    else:
        page = queryset.order_by(*newest_first)
        if starting_after:
            cursor = _cursor(queryset, starting_after, "starting_after")
            older = Q(pk__lt=cursor["pk"])
            if field:
                older = Q(**{f"{field}__lt": cursor[field]}) | (Q(**{field: cursor[field]}) & older)
            page = page.filter(older)
        rows = list(page[: limit + 1])
        has_more = len(rows) > limit
        rows = rows[:limit]
    return {"object": "list", "data": [serialize(row) for row in rows], "has_more": has_more, "url": url}
