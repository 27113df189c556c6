"""Events: retrieve, list (`type`, with a trailing `*` as Stripe's `invoice.*`; `types[]`;
`created[gte|gt|lte|lt]` or `created=<unix time>`). The payload is the one webhooks carry."""

from datetime import UTC, datetime

from ninja import Router

from api.encoding import known, params, text
from api.errors import invalid, missing
from api.lists import PAGE_PARAMS, stripe_list
from billing.models import Event

router = Router(tags=["events"])

MAX_TIMESTAMP = 253402300799  # 9999-12-31T23:59:59Z


def serialize(event: Event) -> dict:
    return event.as_payload()


def _moment(raw, param: str) -> datetime:
    if not isinstance(raw, str) or not raw.strip().lstrip("-").isdigit():
        invalid(f"Invalid timestamp: {param} must be a Unix time in seconds.", param=param)
    value = int(raw)
    if not 0 <= value <= MAX_TIMESTAMP:
        invalid(f"Invalid timestamp: {param} is out of range.", param=param)
    return datetime.fromtimestamp(value, tz=UTC)


def _type_filter(queryset, value: str, param: str):
    if value.endswith("*"):
        return queryset.filter(type__startswith=value[:-1])
    return queryset.filter(type=value)


@router.get("", summary="List events", response={200: dict})
def list_events(request):
    """Newest first. Filters: type (`invoice.paid`, or `invoice.*`), types[] (several),
    created[gte], created[gt], created[lte], created[lt] or created (Unix seconds)."""
    values = params(request)
    known(values, "type", "types", "created", *PAGE_PARAMS)
    queryset = Event.objects.all()
    kind = text(values, "type", max_length=60)
    types = values.get("types")
    if kind and types:
        invalid("You may only specify one of these parameters: type, types.", param="types")
    if kind:
        queryset = _type_filter(queryset, kind, "type")
    if types is not None:
        if (
            not isinstance(types, list)
            or not all(isinstance(t, str) and len(t) <= 60 for t in types)
            or len(types) > 20
        ):
            invalid("Invalid types: expected a list of at most 20 event types (types[]=…).", param="types")
        exact = [t for t in types if not t.endswith("*")]
        if len(exact) != len(types):
            invalid("Invalid types: wildcards are only allowed in type.", param="types")
        queryset = queryset.filter(type__in=exact)
    created = values.get("created")
    if isinstance(created, dict):
        for op, raw in created.items():
            if op not in ("gt", "gte", "lt", "lte"):
                invalid(f"Received unknown parameter: created[{op}]", param=f"created[{op}]")
            queryset = queryset.filter(**{f"created__{op}": _moment(raw, f"created[{op}]")})
    elif created not in (None, ""):
        moment = _moment(created, "created")
        queryset = queryset.filter(created__gte=moment, created__lt=datetime.fromtimestamp(int(created) + 1, tz=UTC))
    return stripe_list(request, queryset, serialize, url="/v1/events")


@router.get("/{id}", summary="Retrieve an event", response={200: dict})
def retrieve(request, id: str):
    event = Event.objects.filter(public_id=id).first()
    if event is None:
        missing("event", id)
    return serialize(event)
