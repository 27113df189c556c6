"""The test clock pages (automations.views.test_clocks): the list, a clock's page with its live
status, advancing it (walked at once: django-q2 runs in sync mode in tests), customers on it,
its deletion and the history of its advances. Viewers look; only editors change anything."""

import re
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from automations.models import Run, RunStatus
from automations.services.definitions import automation_create
from billing import services
from billing.models import (
    AdvanceStatus,
    ClockAdvance,
    Customer,
    Event,
    InvoiceStatus,
    Subscription,
    SubscriptionStatus,
    TestClock,
)
from billing.models import TestClockStatus as ClockStatus
from billing.services.test_clocks import MAX_CUSTOMERS, clock_create
from tests.automations.test_views_builder import text
from tests.factories import DECLINED_CARD, GOOD_CARD, make_price

pytestmark = pytest.mark.django_db

START = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
LIST = reverse("test_clocks")
NEW = reverse("test_clock_new")
HTMX = {"HTTP_HX_REQUEST": "true"}


def url(name: str, test_clock: TestClock) -> str:
    return reverse(name, args=[test_clock.public_id])


def a_clock(name="Rehearsal", at=START) -> TestClock:
    return clock_create(name=name, frozen_time=at)


def dunning():
    policy = {
        "name": "Annual: 3 retries within 21 days",
        "schedule_kind": "within_days",
        "max_retries": 3,
        "within_days": 21,
        "end_behavior": "leave_past_due",
    }
    now = {"amount": 0, "unit": "days"}
    return automation_create(
        name="Annual subscriber dunning",
        trigger="subscription.payment_failed",
        filters=[{"type": "subscription_interval", "params": {"interval": "year"}}],
        steps=[
            {"action": "set_retry_policy", "delay": now, "params": {"new_policy": policy}},
            {"action": "cancel_subscription", "delay": {"amount": 7, "unit": "days"}, "params": {}},
            {"action": "mark_invoice_uncollectible", "delay": now, "params": {}},
        ],
    )


def add_customer(client, test_clock, callbacks, **fields):
    data = {"name": "Clocked Ltd", "email": "billing@clocked.example", "card": DECLINED_CARD, "price": ""} | fields
    with callbacks(execute=True):
        return client.post(url("test_clock_customer_add", test_clock), data)


def advance(client, test_clock, callbacks, **data):
    """POST an advance; its task runs when the request commits (sync mode: the walk is done after)."""
    with callbacks(execute=True):
        return client.post(url("test_clock_advance", test_clock), data)


def yearly_price():
    return make_price("1200.00", interval="year", name="Pro plan (yearly)")


# --- The list ---------------------------------------------------------------------------------


def test_it_explains_what_a_test_clock_is_when_there_is_none(viewer_client):
    response = viewer_client.get(LIST)
    assert response.status_code == 200
    words = text(response)
    assert "No test clocks yet." in words and "simulated time" in words
    assert "New test clock" not in words  # viewers create nothing


def test_it_lists_the_clocks_with_their_time_status_and_customers(editor_client, django_capture_on_commit_callbacks):
    test_clock = a_clock()
    add_customer(editor_client, test_clock, django_capture_on_commit_callbacks)
    a_clock(name="Another", at=START + timedelta(days=3))
    response = editor_client.get(LIST)
    words = text(response)
    assert "Rehearsal" in words and "2025-01-06 09:00" in words and "Another" in words
    assert f"1 / {MAX_CUSTOMERS}" in words and f"0 / {MAX_CUSTOMERS}" in words
    assert "Ready" in words
    assert url("test_clock_detail", test_clock) in response.content.decode()
    assert 'aria-current="page">Test clocks</a>' in response.content.decode()


def test_an_editor_creates_a_clock_at_the_start_time_given_in_utc(editor_client):
    response = editor_client.post(NEW, {"name": "Dunning rehearsal", "frozen_time": "2025-03-01T10:30"})
    test_clock = TestClock.objects.get()
    assert response.status_code == 302 and response.url == url("test_clock_detail", test_clock)
    assert test_clock.name == "Dunning rehearsal"
    assert test_clock.frozen_time == datetime(2025, 3, 1, 10, 30, tzinfo=UTC)
    assert test_clock.status == ClockStatus.READY


def test_the_new_clock_form_starts_at_now(editor_client):
    words = text(editor_client.get(LIST))
    assert "New test clock" in words and "Start time (UTC)" in words


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "", "frozen_time": "2025-03-01T10:30"}, "This field is required."),
        ({"name": "X", "frozen_time": "yesterday"}, "Enter a valid date/time."),
        ({"name": "X", "frozen_time": "2025-13-45T99:00"}, "Enter a valid date/time."),
        ({"name": "X", "frozen_time": "1850-01-01T00:00"}, "Enter a date between 2000 and 2100."),
        ({"name": "X" * 201, "frozen_time": "2025-03-01T10:30"}, "at most 200 characters"),
    ],
)
def test_a_clock_with_a_bad_name_or_start_time_is_refused_with_the_reason(editor_client, data, message):
    response = editor_client.post(NEW, data)
    assert response.status_code == 400
    assert message in text(response)
    assert not TestClock.objects.exists()


# --- A clock's page ---------------------------------------------------------------------------


def test_the_clock_page_shows_its_time_status_and_the_latest_moment_an_advance_may_reach(editor_client):
    test_clock = a_clock()
    response = editor_client.get(url("test_clock_detail", test_clock))
    assert response.status_code == 200
    words = text(response)
    assert "Rehearsal" in words and "2025-01-06 09:00 UTC" in words and "Ready" in words
    assert "up to 2027-01-06 09:00 UTC" in words  # no subscription: two years, as if yearly
    assert "+1 day" in words and "+1 week" in words and "+1 month" in words
    assert 'type="datetime-local"' in response.content.decode()
    assert "hx-trigger" not in response.content.decode()  # nothing to poll while ready


def test_an_unknown_clock_is_not_found(viewer_client, editor_client):
    assert viewer_client.get(reverse("test_clock_detail", args=["clock_nope"])).status_code == 404
    assert editor_client.post(reverse("test_clock_advance", args=["clock_nope"]), {"jump": "1d"}).status_code == 404
    assert editor_client.get(reverse("test_clock_delete", args=["clock_nope"])).status_code == 404


def test_advancing_walks_the_clock_and_the_page_shows_what_happened(editor_client, django_capture_on_commit_callbacks):
    dunning()
    test_clock = a_clock()
    add_customer(editor_client, test_clock, django_capture_on_commit_callbacks, price=yearly_price().public_id)

    response = advance(editor_client, test_clock, django_capture_on_commit_callbacks, to="2025-02-15T09:00")

    assert response.status_code == 302 and response.url == url("test_clock_detail", test_clock)
    test_clock.refresh_from_db()
    assert test_clock.status == ClockStatus.READY
    assert test_clock.frozen_time == datetime(2025, 2, 15, 9, 0, tzinfo=UTC)
    advance_row = ClockAdvance.objects.get()
    assert advance_row.status == AdvanceStatus.SUCCEEDED and advance_row.requested_by.username == "eddie"
    run = Run.objects.get()
    assert run.status == RunStatus.COMPLETED
    assert Subscription.objects.get().status == SubscriptionStatus.CANCELED
    page = editor_client.get(response.url)
    words = text(page)
    assert "Advancing “Rehearsal” to 2025-02-15 09:00 UTC." in words
    assert "Advance 1: 2025-01-06 09:00 → 2025-02-15 09:00 UTC" in words and "Done" in words
    assert "Uncollectible" in words and "Canceled" in words  # the customer's invoice and subscription


def test_the_quick_buttons_advance_by_a_day_a_week_or_a_month(editor_client, django_capture_on_commit_callbacks):
    test_clock = a_clock()
    for jump, expected in [
        ("1d", START + timedelta(days=1)),
        ("1w", START + timedelta(days=8)),
        ("1m", datetime(2025, 2, 14, 9, 0, tzinfo=UTC)),
    ]:
        response = advance(editor_client, test_clock, django_capture_on_commit_callbacks, jump=jump, to="2025-0")
        assert response.status_code == 302
        test_clock.refresh_from_db()
        assert test_clock.frozen_time == expected and test_clock.status == ClockStatus.READY


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"to": ""}, "Pick the moment to advance to, or one of the quick buttons."),
        ({"to": "not a date"}, "Enter a valid date/time."),
        ({"to": "2025-02-30T09:00"}, "Enter a valid date/time."),
        ({"to": "2025-01-05T09:00"}, "a test clock only moves forward"),
        ({"to": "2025-01-06T09:00"}, "a test clock only moves forward"),
        ({"to": "2031-01-01T00:00"}, "this one up to 2027-01-06 09:00 UTC"),
        ({"to": "2200-01-01T00:00"}, "Enter a date between 2000 and 2100."),
        ({"jump": "1y"}, "Select a valid choice."),
    ],
)
def test_a_bad_moment_is_refused_with_the_reason_and_the_form_again(
    editor_client, django_capture_on_commit_callbacks, data, message
):
    test_clock = a_clock()
    response = advance(editor_client, test_clock, django_capture_on_commit_callbacks, **data)
    assert response.status_code == 400
    words = text(response)
    assert message in words and "Advance to (UTC)" in words
    assert not ClockAdvance.objects.exists()
    test_clock.refresh_from_db()
    assert test_clock.frozen_time == START and test_clock.status == ClockStatus.READY


def test_with_a_monthly_subscription_an_advance_goes_at_most_two_months(
    editor_client, django_capture_on_commit_callbacks
):
    test_clock = a_clock()
    add_customer(editor_client, test_clock, django_capture_on_commit_callbacks, card=GOOD_CARD,
                 price=make_price("20.00", interval="month").public_id)  # fmt: skip
    assert "up to 2025-03-06 09:00 UTC" in text(editor_client.get(url("test_clock_detail", test_clock)))
    response = advance(editor_client, test_clock, django_capture_on_commit_callbacks, to="2025-04-01T00:00")
    assert response.status_code == 400 and "up to 2025-03-06 09:00 UTC" in text(response)


def test_a_second_advance_while_one_runs_is_refused(editor_client, django_capture_on_commit_callbacks):
    test_clock = a_clock()
    TestClock.objects.filter(pk=test_clock.pk).update(status=ClockStatus.ADVANCING)
    response = advance(editor_client, test_clock, django_capture_on_commit_callbacks, jump="1d")
    assert response.status_code == 409
    assert "is already advancing; wait until it is ready" in text(response)
    assert not ClockAdvance.objects.exists()
    test_clock.refresh_from_db()
    assert test_clock.frozen_time == START


def test_while_advancing_the_page_polls_its_progress_until_the_clock_is_ready(editor_client):
    test_clock = a_clock()
    ClockAdvance.objects.create(test_clock=test_clock, from_time=START, to_time=START + timedelta(days=40))
    TestClock.objects.filter(pk=test_clock.pk).update(
        status=ClockStatus.ADVANCING, frozen_time=START + timedelta(days=10)
    )
    page = editor_client.get(url("test_clock_detail", test_clock))
    html = page.content.decode()
    assert 'hx-trigger="every 1s"' in html and url("test_clock_progress", test_clock) in html
    assert re.search(r'<progress max="100" value="25"', html)
    words = text(page)
    assert "25%: from 2025-01-06 09:00 to 2025-02-15 09:00 UTC" in words
    assert "Advancing" in words and "Add customers once the clock is ready." in words
    assert "Delete clock" not in words

    fragment = editor_client.get(url("test_clock_progress", test_clock), **HTMX)
    assert fragment.status_code == 200 and 'hx-trigger="every 1s"' in fragment.content.decode()
    assert "<html" not in fragment.content.decode() and "25%" in text(fragment)

    TestClock.objects.filter(pk=test_clock.pk).update(status=ClockStatus.READY)
    done = editor_client.get(url("test_clock_progress", test_clock), **HTMX)
    assert done.headers["HX-Refresh"] == "true"  # the whole page reloads, and stops polling
    assert "hx-trigger" not in editor_client.get(url("test_clock_detail", test_clock)).content.decode()


def test_the_progress_address_opened_outside_htmx_shows_the_clocks_whole_page(viewer_client):
    test_clock = a_clock()
    TestClock.objects.filter(pk=test_clock.pk).update(status=ClockStatus.ADVANCING)
    response = viewer_client.get(url("test_clock_progress", test_clock))
    html = response.content.decode()
    assert response.status_code == 200
    assert '<html lang="' in html and "<title>" in html  # a page, not the bare fragment
    assert 'hx-trigger="every 1s"' in html  # and it follows the advance like the clock's page


def test_an_internal_failure_shows_the_error(viewer_client):
    test_clock = a_clock()
    TestClock.objects.filter(pk=test_clock.pk).update(
        status=ClockStatus.INTERNAL_FAILURE, failure="RuntimeError: the gateway broke"
    )
    words = text(viewer_client.get(url("test_clock_detail", test_clock)))
    assert "Internal failure" in words and "RuntimeError: the gateway broke" in words


# --- Customers on a clock ---------------------------------------------------------------------


def test_an_editor_adds_a_customer_with_a_subscription_at_the_clocks_time(
    editor_client, django_capture_on_commit_callbacks
):
    test_clock = a_clock()
    price = yearly_price()
    form_page = text(editor_client.get(url("test_clock_detail", test_clock)))
    assert "4000000000000002 — Always declined (soft: card_declined)" in form_page
    assert "Pro plan (yearly) — " in form_page and "a year" in form_page

    response = add_customer(editor_client, test_clock, django_capture_on_commit_callbacks, price=price.public_id)

    assert response.status_code == 302
    customer = Customer.objects.get()
    assert customer.test_clock_id == test_clock.public_id and customer.created == START
    assert customer.default_payment_method == DECLINED_CARD
    subscription = Subscription.objects.get()
    assert subscription.customer == customer and subscription.current_period_start == START
    invoice = subscription.invoices.get()
    assert invoice.status == InvoiceStatus.OPEN and invoice.attempt_count == 1
    page = editor_client.get(response.url)
    html, words = page.content.decode(), text(page)
    assert "Clocked Ltd is on the clock subscribed to Pro plan (yearly)" in words
    for link in (
        reverse("customer_detail", args=[customer.public_id]),
        reverse("subscription_detail", args=[subscription.public_id]),
        reverse("invoice_detail", args=[invoice.public_id]),
    ):
        assert f'href="{link}"' in html
    assert "…0002 (always declined (soft: card_declined))" in words


def test_a_customer_without_a_price_has_no_subscription(editor_client, django_capture_on_commit_callbacks):
    test_clock = a_clock()
    response = add_customer(editor_client, test_clock, django_capture_on_commit_callbacks, card=GOOD_CARD)
    assert response.status_code == 302
    assert Customer.objects.get().test_clock_id == test_clock.public_id
    assert not Subscription.objects.exists()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"email": "not-an-email"}, "Enter a valid email address."),
        ({"email": "a" * 250 + "@example.com"}, "Ensure this value has at most 254 characters"),
        ({"name": "Nul\x00byte"}, "Null characters are not allowed."),
        ({"name": ""}, "This field is required."),
        ({"card": "4111111111111111"}, "Select a valid choice."),
        ({"price": "price_unknown"}, "Select a valid choice."),
    ],
)
def test_a_bad_customer_is_refused_with_the_reason(editor_client, django_capture_on_commit_callbacks, fields, message):
    test_clock = a_clock()
    response = add_customer(editor_client, test_clock, django_capture_on_commit_callbacks, **fields)
    assert response.status_code == 400
    assert message in text(response)
    assert not Customer.objects.exists()


def test_an_inactive_or_one_off_price_cannot_be_chosen(editor_client, django_capture_on_commit_callbacks):
    test_clock = a_clock()
    one_off = make_price("50.00", interval="")
    inactive = make_price("20.00", interval="month", name="Old plan")
    inactive.active = False
    inactive.save()
    for price in (one_off, inactive):
        response = add_customer(editor_client, test_clock, django_capture_on_commit_callbacks, price=price.public_id)
        assert response.status_code == 400 and "Select a valid choice." in text(response)
    assert not Customer.objects.exists()


def test_a_full_clock_says_so_and_refuses_another_customer(editor_client, django_capture_on_commit_callbacks):
    test_clock = a_clock()
    for n in range(MAX_CUSTOMERS):
        services.customer_create(name=f"C{n}", email=f"c{n}@example.com", test_clock=test_clock)
    words = text(editor_client.get(url("test_clock_detail", test_clock)))
    assert f"This clock is full: a test clock holds at most {MAX_CUSTOMERS} customers." in words
    response = add_customer(editor_client, test_clock, django_capture_on_commit_callbacks)
    assert response.status_code == 400
    assert f"A test clock holds at most {MAX_CUSTOMERS} customers; “Rehearsal” is full." in text(response)
    assert Customer.objects.count() == MAX_CUSTOMERS


def test_no_customer_joins_a_clock_while_it_advances(editor_client, django_capture_on_commit_callbacks):
    test_clock = a_clock()
    TestClock.objects.filter(pk=test_clock.pk).update(status=ClockStatus.ADVANCING)
    response = add_customer(editor_client, test_clock, django_capture_on_commit_callbacks)
    assert response.status_code == 400 and "add customers once it is ready" in text(response)
    assert not Customer.objects.exists()


# --- Deleting ---------------------------------------------------------------------------------


def test_deleting_asks_first_with_what_goes_then_deletes_everything_of_the_clock(
    editor_client, django_capture_on_commit_callbacks
):
    dunning()
    test_clock = a_clock()
    add_customer(editor_client, test_clock, django_capture_on_commit_callbacks, price=yearly_price().public_id)
    elsewhere = services.customer_create(name="Real customer", email="real@example.com")
    confirm = editor_client.get(url("test_clock_delete", test_clock))
    assert confirm.status_code == 200
    words = text(confirm)
    assert "Delete “Rehearsal”?" in words
    assert "1 customer " in words and "1 subscription " in words and "1 invoice," in words
    assert "1 automation run," in words and f"{Event.objects.filter(test_clock=test_clock).count()} events" in words
    assert TestClock.objects.exists()  # asking deletes nothing

    response = editor_client.post(url("test_clock_delete", test_clock))
    assert response.status_code == 302 and response.url == LIST
    assert not TestClock.objects.exists() and not Run.objects.exists() and not Subscription.objects.exists()
    assert list(Customer.objects.all()) == [elsewhere]
    assert "Test clock “Rehearsal” deleted, with 1 customer, 1 subscription, 1 invoice" in text(editor_client.get(LIST))


def test_a_clock_that_advances_cannot_be_deleted(editor_client):
    test_clock = a_clock()
    TestClock.objects.filter(pk=test_clock.pk).update(status=ClockStatus.ADVANCING)
    response = editor_client.post(url("test_clock_delete", test_clock))
    assert response.status_code == 409 and "delete it once it is ready" in text(response)
    assert TestClock.objects.exists()


# --- Roles ------------------------------------------------------------------------------------


def test_a_viewer_sees_everything_and_changes_nothing(viewer_client, django_capture_on_commit_callbacks):
    test_clock = a_clock()
    services.customer_create(name="Clocked Ltd", email="billing@clocked.example", test_clock=test_clock)
    for path in (LIST, url("test_clock_detail", test_clock), url("test_clock_progress", test_clock)):
        response = viewer_client.get(path)
        assert response.status_code == 200, path
        html = response.content.decode()
        assert 'method="post"' not in html.split('id="main"')[-1], path  # the log out form is above
    assert "Clocked Ltd" in text(viewer_client.get(url("test_clock_detail", test_clock)))
    assert "Only editors advance a clock." in text(viewer_client.get(url("test_clock_detail", test_clock)))

    refused = [
        viewer_client.post(NEW, {"name": "Mine", "frozen_time": "2025-03-01T10:30"}),
        advance(viewer_client, test_clock, django_capture_on_commit_callbacks, jump="1d"),
        add_customer(viewer_client, test_clock, django_capture_on_commit_callbacks),
        viewer_client.get(url("test_clock_delete", test_clock)),
        viewer_client.post(url("test_clock_delete", test_clock)),
    ]
    assert [r.status_code for r in refused] == [403] * 5
    assert TestClock.objects.count() == 1 and Customer.objects.count() == 1 and not ClockAdvance.objects.exists()


def test_someone_without_a_role_sees_nothing(client, outsider):
    test_clock = a_clock()
    client.force_login(outsider)
    assert client.get(LIST).status_code == 403
    assert client.get(url("test_clock_detail", test_clock)).status_code == 403


# --- History ----------------------------------------------------------------------------------


def test_the_history_shows_each_advances_events_runs_and_steps_at_their_simulated_times(
    editor_client, django_capture_on_commit_callbacks
):
    dunning()
    test_clock = a_clock()
    add_customer(editor_client, test_clock, django_capture_on_commit_callbacks, price=yearly_price().public_id)
    advance(editor_client, test_clock, django_capture_on_commit_callbacks, to="2025-01-20T09:00")
    advance(editor_client, test_clock, django_capture_on_commit_callbacks, to="2025-02-15T09:00")
    run = Run.objects.get()
    steps = list(run.steps.order_by("position"))
    invoice = Subscription.objects.get().invoices.get()

    page = editor_client.get(url("test_clock_detail", test_clock))
    html = page.content.decode()
    sections = re.split(r'<section class="history-section"', html)[1:]
    assert len(sections) == 3
    second, first, creation = (text_of(s) for s in sections)
    assert second.startswith(' aria-labelledby="history-1" data-history=') or "Advance 2" in second
    assert "Advance 2: 2025-01-20 09:00 → 2025-02-15 09:00 UTC" in second
    assert "Advance 1: 2025-01-06 09:00 → 2025-01-20 09:00 UTC" in first
    assert "At creation" in creation

    # At creation: the customer, the subscription, the first failed payment, the run starting.
    for words in ("customer.created", "customer.subscription.created", "invoice.payment_failed"):
        assert words in creation
    assert f"Started {run.public_id}" in creation and "Annual subscriber dunning" in creation
    # The retries fail during the first advance: more payment_failed events, at simulated times.
    assert "invoice.payment_failed" in first
    # The second advance: the policy's wait ends, the cancellation 7 days later, the write-off.
    assert f"{steps[1].executed_at:%Y-%m-%d %H:%M} 2. Cancel subscription" in second
    assert f"{steps[2].executed_at:%Y-%m-%d %H:%M} 3. Mark invoice uncollectible" in second
    assert "customer.subscription.deleted" in second and "invoice.marked_uncollectible" in second
    assert f"Ended {run.public_id}" in second and "Completed" in second
    run_link = reverse("run_detail", args=[run.automation.public_id, run.public_id])
    assert f'href="{run_link}"' in html
    assert f'href="{reverse("invoice_detail", args=[invoice.public_id])}"' in html


def text_of(fragment: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment)).replace("&gt;", ">").replace("&#x27;", "'")


def test_a_clock_runs_timeline_shows_the_invoices_retries_and_the_clock(
    viewer_client, editor_client, django_capture_on_commit_callbacks
):
    dunning()
    test_clock = a_clock()
    add_customer(editor_client, test_clock, django_capture_on_commit_callbacks, price=yearly_price().public_id)
    advance(editor_client, test_clock, django_capture_on_commit_callbacks, to="2025-02-15T09:00")
    run = Run.objects.get()
    attempts = list(Subscription.objects.get().invoices.get().payment_attempts.order_by("created"))
    assert len(attempts) == 4

    page = viewer_client.get(reverse("run_detail", args=[run.automation.public_id, run.public_id]))
    words = text(page)
    assert "Payment attempts on the invoice" in words
    assert f"First attempt {START:%Y-%m-%d %H:%M:%S} Failed card_declined (soft decline)" in words
    for n, attempt in enumerate(attempts[1:], start=1):
        assert f"Retry {n} {attempt.created:%Y-%m-%d %H:%M:%S} Failed" in words
    assert f'href="{url("test_clock_detail", test_clock)}"' in page.content.decode()
    assert "every time on this page is simulated" in words


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_editors_advancing_at_once_start_one_advance(editor):
    """Both requests read the clock ready; the clock's row lock and conditional claim let one win.
    The other is refused with the reason (409 while the winner's walk runs, or 400 once it is over
    and the moment asked for is no longer ahead of the clock)."""
    test_clock = a_clock()
    barrier = threading.Barrier(2)
    answers, errors = [], []

    def work():
        try:
            client = Client()
            client.force_login(editor)
            barrier.wait()
            response = client.post(url("test_clock_advance", test_clock), {"to": "2025-01-08T09:00"})
            answers.append((response.status_code, text(response) if response.status_code != 302 else ""))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    answers.sort()
    assert answers[0][0] == 302
    refused_status, refused_words = answers[1]
    assert refused_status in (400, 409)
    assert "already advancing" in refused_words or "a test clock only moves forward" in refused_words
    assert ClockAdvance.objects.count() == 1
    test_clock.refresh_from_db()
    assert test_clock.status == ClockStatus.READY and test_clock.frozen_time == datetime(2025, 1, 8, 9, tzinfo=UTC)
