"""`/v1/test_helpers/test_clocks`: create, retrieve, list, `advance` and delete, through billing's
test clock services and the automations' advance (a worker walks it; the clock reads `advancing`
until it is `ready`, as in Stripe)."""

from datetime import timedelta

from ninja import Router

from api.encoding import params
from api.lists import PAGE_PARAMS, stripe_list
from api.resources.values import found, only, required, text, timestamp
from automations.services.test_clocks import advance_clock
from billing.models import TestClock
from billing.services.test_clocks import clock_create, clock_delete

router = Router(tags=["test clocks"])

URL = "/v1/test_helpers/test_clocks"
OBJECT = "test_helpers.test_clock"
DELETES_AFTER = timedelta(days=30)  # what Stripe announces; Relance keeps a clock until it is deleted


def serialize(clock: TestClock) -> dict:
    return {
        "id": clock.public_id,
        "object": OBJECT,
        "name": clock.name,
        "frozen_time": int(clock.frozen_time.timestamp()),
        "status": clock.status,
        "status_details": {},
        "created": int(clock.created.timestamp()),
        "deletes_after": int((clock.created + DELETES_AFTER).timestamp()),
        "livemode": False,
    }


def _clock(id: str) -> TestClock:
    return found(TestClock.objects.all(), id, "test_clock")


@router.post("", summary="Create a test clock")
def create(request):
    """Parameters: frozen_time (a timestamp), name."""
    values = only(params(request), {"name", "frozen_time"})
    frozen_time = timestamp(required(values, "frozen_time"), "frozen_time")
    clock = clock_create(name=text(values.get("name", ""), "name", max_length=200), frozen_time=frozen_time)
    return serialize(clock)


@router.get("/{id}", summary="Retrieve a test clock")
def retrieve(request, id: str):
    only(params(request), set())
    return serialize(_clock(id))


@router.get("", summary="List test clocks")
def list_(request):
    only(params(request), set(PAGE_PARAMS))
    return stripe_list(request, TestClock.objects.all(), serialize, url=URL)


@router.post("/{id}/advance", summary="Advance a test clock")
def advance(request, id: str):
    """Parameter: frozen_time, later than the clock's and at most two intervals of its longest
    subscription ahead. The clock reads `advancing` until billing and the automations have run
    through every moment due on the way, then `ready`."""
    values = only(params(request), {"frozen_time"})
    clock = _clock(id)
    advance_clock(test_clock=clock, to=timestamp(required(values, "frozen_time"), "frozen_time"))
    return serialize(_clock(id))


@router.delete("/{id}", summary="Delete a test clock")
def delete(request, id: str):
    """Deletes the clock with its customers and everything of theirs."""
    only(params(request), set())
    clock = _clock(id)
    clock_delete(test_clock=clock)
    return {"id": clock.public_id, "object": OBJECT, "deleted": True}
