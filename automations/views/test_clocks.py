"""Test clocks in the dashboard: the list, a clock's page (its status and progress, live while it
advances; the advance form; its customers; the history of its advances) and its deletion.

These pages live in the automations layer because advancing a clock runs the engine. Everyone
with a role looks; only editors create, advance, add customers and delete.
"""

from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from django_htmx.http import HttpResponseClientRefresh

from automations import clock_selectors as selectors
from automations.clock_forms import AdvanceForm, ClockCustomerForm, ClockForm, first_error
from automations.services.summary import plural
from automations.services.test_clocks import advance_clock
from billing import services
from billing.errors import BillingError
from billing.models import TestClock, TestClockStatus
from billing.services.test_clocks import MAX_CUSTOMERS, ClockError, clock_create, clock_delete, latest_advance_target
from frame.htmx import HtmxHttpRequest
from frame.permissions import editor_required

LIST = "automations/test_clock_list.html"
DETAIL = "automations/test_clock_detail.html"
DELETE = "automations/test_clock_delete.html"


def _clock(public_id: str) -> TestClock:
    try:
        return selectors.clock_detail(public_id)
    except TestClock.DoesNotExist:
        raise Http404("No such test clock.") from None


def _render_list(request, form: ClockForm, status: int = 200) -> HttpResponse:
    context = {"clocks": selectors.clock_list(), "form": form, "max_customers": MAX_CUSTOMERS}
    return render(request, LIST, context, status=status)


@require_safe
def test_clock_list(request: HtmxHttpRequest) -> HttpResponse:
    return _render_list(request, ClockForm())


@editor_required
@require_http_methods(["GET", "POST"])
def test_clock_new(request: HtmxHttpRequest) -> HttpResponse:
    """POST: a new clock at the start time given, then its page. GET shows the list with the form."""
    if request.method != "POST":
        return _render_list(request, ClockForm())
    form = ClockForm(request.POST)
    if form.is_valid():
        try:
            test_clock = clock_create(name=form.cleaned_data["name"], frozen_time=form.cleaned_data["frozen_time"])
        except ClockError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Test clock “{test_clock.name}” created. Add customers, then advance it.")
            return redirect("test_clock_detail", test_clock.public_id)
    return _render_list(request, form, status=400)


def _detail_context(request, test_clock: TestClock, **forms) -> dict:
    latest = latest_advance_target(test_clock)
    advance_form = forms.get("advance_form") or AdvanceForm(test_clock=test_clock, latest=latest)
    customers = selectors.clock_customers(test_clock)
    return {
        "clock": test_clock,
        "progress": selectors.clock_progress(test_clock),
        "latest": latest,
        "advance_form": advance_form,
        "customer_form": forms.get("customer_form") or ClockCustomerForm(),
        "customers": [(customer, selectors.card_label(customer.default_payment_method)) for customer in customers],
        "full": len(customers) >= MAX_CUSTOMERS,
        "max_customers": MAX_CUSTOMERS,
        "history": selectors.clock_history(test_clock),
        "advance_error": forms.get("advance_error", ""),
        "customer_error": forms.get("customer_error", ""),
    }


def _render_detail(request, test_clock: TestClock, status: int = 200, **forms) -> HttpResponse:
    return render(request, DETAIL, _detail_context(request, test_clock, **forms), status=status)


@require_safe
def test_clock_detail(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    return _render_detail(request, _clock(public_id))


@require_safe
def test_clock_progress(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    """The status fragment the page polls while the clock advances. Once the advance is over,
    an htmx poll reloads the whole page: its customers and history have moved on too. Opened
    outside htmx (a bookmark, a new tab), the address shows the clock's whole page."""
    test_clock = _clock(public_id)
    if not request.htmx:
        response = _render_detail(request, test_clock)
    elif test_clock.status != TestClockStatus.ADVANCING:
        response = HttpResponseClientRefresh()
    else:
        context = {"clock": test_clock, "progress": selectors.clock_progress(test_clock)}
        response = render(request, f"{DETAIL}#status", context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@require_POST
@editor_required
def test_clock_advance(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    """Start an advance (the worker walks it once this request commits), then back to the page.
    A bad moment answers 400 with the reason; while an advance runs, 409."""
    test_clock = _clock(public_id)
    form = AdvanceForm(request.POST, test_clock=test_clock, latest=latest_advance_target(test_clock))
    if test_clock.status == TestClockStatus.ADVANCING:
        error = f"Test clock “{test_clock.name}” is already advancing; wait until it is ready."
        return _render_detail(request, test_clock, 409, advance_form=form, advance_error=error)
    if not form.is_valid():
        return _render_detail(request, test_clock, 400, advance_form=form, advance_error=first_error(form))
    try:
        advance = advance_clock(test_clock=test_clock, to=form.cleaned_data["to"], user=request.user)
    except ClockError as exc:
        test_clock = _clock(public_id)
        status = 409 if test_clock.status == TestClockStatus.ADVANCING else 400
        return _render_detail(request, test_clock, status, advance_form=form, advance_error=exc.message)
    messages.success(request, f"Advancing “{test_clock.name}” to {advance.to_time:%Y-%m-%d %H:%M} UTC.")
    return redirect("test_clock_detail", test_clock.public_id)


@require_POST
@editor_required
def test_clock_customer_add(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    """A customer on the clock, created at its time, and their subscription when a price is chosen."""
    test_clock = _clock(public_id)
    form = ClockCustomerForm(request.POST)
    if not form.is_valid():
        return _render_detail(request, test_clock, 400, customer_form=form, customer_error=first_error(form))
    data = form.cleaned_data
    price = data["price"]
    try:
        with transaction.atomic():
            customer = services.customer_create(
                name=data["name"],
                email=data["email"],
                currency=str(price.unit_amount.currency) if price else None,
                default_payment_method=data["card"],
                test_clock=test_clock,
            )
            if price is not None:
                services.subscription_create(customer=customer, items=[(price, 1)])
    except BillingError as exc:
        return _render_detail(request, _clock(public_id), 400, customer_form=form, customer_error=exc.message)
    plan = f" subscribed to {selectors.price_label(price)}" if price else ""
    messages.success(request, f"{customer.name} is on the clock{plan}.")
    return redirect("test_clock_detail", test_clock.public_id)


@editor_required
@require_http_methods(["GET", "POST"])
def test_clock_delete(request: HtmxHttpRequest, public_id: str) -> HttpResponse:
    """GET: what the deletion would take with it. POST: delete the clock and everything of its customers."""
    test_clock = _clock(public_id)
    context = {"clock": test_clock, "counts": selectors.deletion_counts(test_clock)}
    if request.method != "POST":
        return render(request, DELETE, context)
    try:
        counts = clock_delete(test_clock=test_clock)
    except ClockError as exc:
        return render(request, DELETE, context | {"error": exc.message}, status=409)
    kinds = ("customer", "subscription", "invoice", "quote", "event")
    gone = ", ".join(f"{n} {plural(n, kind)}" for kind in kinds if (n := counts.get(f"{kind}s", 0))) or "nothing else"
    messages.success(request, f"Test clock “{test_clock.name}” deleted, with {gone}.")
    return redirect("test_clocks")
