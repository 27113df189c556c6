"""Transitions from the billing pages: editors POST, the billing service changes the state and
records its event; refusals are 4xx with the message, never a 500; viewers can do nothing."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from automations.models import Run
from billing.models import Event
from billing.views.controls import TRANSITIONS
from tests.automations.test_engine import VOID, automation
from tests.factories import DECLINED_CARD, make_customer, make_invoice, make_quote, make_subscription

pytestmark = pytest.mark.django_db

LATER_VOID = {**VOID, "delay": {"amount": 3, "unit": "days"}}


def _url(obj, name: str, *, confirm: bool = False) -> str:
    kind = obj._meta.model_name
    return reverse(f"{kind}_transition_confirm" if confirm else f"{kind}_transition", args=[obj.public_id, name])


def _page(obj) -> str:
    return reverse(f"{obj._meta.model_name}_detail", args=[obj.public_id])


def _post(client, obj, name: str, data=None, **kwargs):
    return client.post(_url(obj, name), data or {}, **kwargs)


def _events(obj) -> list[str]:
    return list(Event.objects.filter(object_id=obj.public_id).order_by("id").values_list("type", flat=True))


def _local(moment) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%dT%H:%M}"


# --- Each transition, from the page ---------------------------------------------------------------

SIMPLE = [
    # (factory, transition, expected status after, event recorded)
    (lambda: make_invoice(status="draft"), "finalize", "open", "invoice.finalized"),
    (lambda: make_invoice(), "attempt-payment", "paid", "invoice.paid"),
    (lambda: make_invoice(), "mark-paid", "paid", "invoice.paid"),
    (lambda: make_invoice(), "void", "void", "invoice.voided"),
    (lambda: make_invoice(status="uncollectible"), "void", "void", "invoice.voided"),
    (lambda: make_invoice(), "mark-uncollectible", "uncollectible", "invoice.marked_uncollectible"),
    (lambda: make_subscription(), "cancel", "canceled", "customer.subscription.deleted"),
    (lambda: make_subscription(status="paused", pause_behavior="void"), "resume-collection", "active",
     "customer.subscription.updated"),
    (lambda: make_quote(status="draft", expires_at=None), "finalize", "open", "quote.finalized"),
    (lambda: make_quote(), "accept", "accepted", "quote.accepted"),
    (lambda: make_quote(), "cancel", "canceled", "quote.canceled"),
]  # fmt: skip


@pytest.mark.parametrize(("factory", "name", "status", "event"), SIMPLE)
def test_each_transition_changes_the_state_records_its_event_and_says_so(editor_client, factory, name, status, event):
    obj = factory()
    response = _post(editor_client, obj, name, follow=True)
    assert response.redirect_chain == [(_page(obj), 302)]
    obj.refresh_from_db()
    assert obj.status == status
    assert _events(obj)[-1] == event
    assert response.context["messages"]
    assert 'class="message message-success"' in response.text


def test_a_declined_payment_is_recorded_and_reported_as_a_warning(editor_client):
    invoice = make_invoice(customer=make_customer(default_payment_method=DECLINED_CARD))
    response = _post(editor_client, invoice, "attempt-payment", follow=True)
    invoice.refresh_from_db()
    assert (invoice.status, invoice.attempt_count) == ("open", 1)
    assert _events(invoice) == ["invoice.payment_failed"]
    assert "failed: card_declined" in response.text
    assert "message-warning" in response.text


def test_changing_the_due_date_accepts_a_past_date_for_an_open_invoice(editor_client):
    invoice = make_invoice(due_date=timezone.now() + timedelta(days=10))
    yesterday = timezone.now() - timedelta(days=1)
    response = _post(editor_client, invoice, "change-due-date", {"due_date": _local(yesterday)}, follow=True)
    invoice.refresh_from_db()
    assert _local(invoice.due_date) == _local(yesterday)
    assert _events(invoice) == ["invoice.updated"]
    assert "is now due" in response.text


def test_a_bare_date_is_midnight(editor_client):
    invoice = make_invoice(status="draft")
    assert _post(editor_client, invoice, "change-due-date", {"due_date": "2031-05-17"}).status_code == 302
    invoice.refresh_from_db()
    assert _local(invoice.due_date) == "2031-05-17T00:00"


def test_an_invoice_is_made_overdue_through_the_ui_and_its_run_appears(
    editor_client, django_capture_on_commit_callbacks
):
    chase = automation("invoice.overdue", [LATER_VOID], name="Default chase")
    invoice = make_invoice(due_date=timezone.now() + timedelta(days=10))
    page = editor_client.get(_page(invoice))
    assert ">Mark overdue</button>" not in page.text  # not past its due date yet
    yesterday = _local(timezone.now() - timedelta(days=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert _post(editor_client, invoice, "change-due-date", {"due_date": yesterday}).status_code == 302
    page = editor_client.get(_page(invoice))
    assert ">Mark overdue</button>" in page.text
    with django_capture_on_commit_callbacks(execute=True):
        assert _post(editor_client, invoice, "mark-overdue").status_code == 302
    response = editor_client.get(_page(invoice))  # the redirect, once the engine has handled the event
    invoice.refresh_from_db()
    assert invoice.overdue_at is not None
    assert _events(invoice)[-1] == "invoice.overdue"
    run = Run.objects.get(object_id=invoice.public_id)
    assert run.automation == chase
    assert f"Invoice {invoice} marked overdue." in response.text
    assert "Automation runs" in response.text and run.public_id in response.text
    assert "started run" in response.text
    assert ">Mark overdue</button>" not in response.text  # flagged once


def test_a_cancellation_is_scheduled_at_the_period_end_or_on_a_date_and_withdrawn(editor_client):
    subscription = make_subscription()
    assert _post(editor_client, subscription, "schedule-cancellation", {"when": "period_end"}).status_code == 302
    subscription.refresh_from_db()
    assert (subscription.cancel_at, subscription.cancel_at_period_end) == (subscription.current_period_end, True)
    on = timezone.now() + timedelta(days=5)
    data = {"when": "date", "cancel_at": _local(on)}
    assert _post(editor_client, subscription, "schedule-cancellation", data).status_code == 302
    subscription.refresh_from_db()
    assert _local(subscription.cancel_at) == _local(on) and not subscription.cancel_at_period_end
    page = editor_client.get(_page(subscription))
    assert ">Unschedule cancellation</button>" in page.text
    assert _post(editor_client, subscription, "unschedule-cancellation").status_code == 302
    subscription.refresh_from_db()
    assert subscription.cancel_at is None
    assert _events(subscription) == ["customer.subscription.updated"] * 3


def test_collection_is_paused_now_or_from_a_date_and_resumed(editor_client):
    now_paused = make_subscription()
    data = {"behavior": "mark_uncollectible", "resumes_at": _local(timezone.now() + timedelta(days=30))}
    assert _post(editor_client, now_paused, "pause-collection", data).status_code == 302
    now_paused.refresh_from_db()
    assert (now_paused.status, now_paused.pause_behavior) == ("paused", "mark_uncollectible")
    later = make_subscription()
    data = {"behavior": "keep_as_draft", "starts_at": _local(timezone.now() + timedelta(days=3))}
    response = _post(editor_client, later, "pause-collection", data, follow=True)
    later.refresh_from_db()
    assert (later.status, later.pause_behavior) == ("active", "keep_as_draft") and later.pause_starts_at
    assert "pauses" in response.text
    assert ">Resume collection</button>" in response.text
    assert _post(editor_client, later, "resume-collection").status_code == 302
    later.refresh_from_db()
    assert later.pause_starts_at is None


# --- What is offered --------------------------------------------------------------------------------


def _buttons(client, obj) -> set[str]:
    text = client.get(_page(obj)).text
    labels = set()
    for transition in TRANSITIONS[obj._meta.model_name].values():
        if f'aria-haspopup="dialog">{transition.label}</button>' in text or (
            f">{transition.label}</button>" in text and f'action="{_url(obj, transition.name)}"' in text
        ):
            labels.add(transition.label)
    return labels


def test_only_the_transitions_valid_for_the_state_are_offered(editor_client):
    past_due = timezone.now() - timedelta(days=1)
    assert _buttons(editor_client, make_invoice(status="draft")) == {"Finalize", "Change due date"}
    assert _buttons(editor_client, make_invoice(due_date=past_due)) == {
        "Attempt payment", "Mark paid", "Change due date", "Mark overdue", "Mark uncollectible", "Void invoice",
    }  # fmt: skip
    assert _buttons(editor_client, make_invoice(status="uncollectible")) == {
        "Attempt payment",
        "Mark paid",
        "Void invoice",
    }
    assert _buttons(editor_client, make_invoice(status="paid")) == set()
    assert _buttons(editor_client, make_subscription()) == {
        "Schedule cancellation", "Pause collection", "Cancel subscription",
    }  # fmt: skip
    assert _buttons(editor_client, make_subscription(status="canceled")) == set()
    assert _buttons(editor_client, make_quote(status="draft")) == {"Finalize", "Cancel quote"}
    assert _buttons(editor_client, make_quote()) == {"Accept", "Cancel quote"}
    assert _buttons(editor_client, make_quote(status="accepted")) == set()


def test_destructive_transitions_open_a_confirmation_dialog(editor_client):
    invoice = make_invoice()
    text = editor_client.get(_page(invoice)).text
    dialog = text[text.index('<dialog id="transition-void"') :]
    dialog = dialog[: dialog.index("</dialog>")]
    assert 'aria-labelledby="transition-void-title"' in dialog
    assert "Void this invoice?" in dialog
    assert f'<form method="post" action="{_url(invoice, "void")}"' in dialog
    assert ">Void invoice</button>" in dialog
    assert 'formmethod="dialog"' in dialog and "autofocus" in dialog  # Go back, focused first
    # The button opens it (with JavaScript), or the confirmation page (without).
    assert (
        f'action="{_url(invoice, "void", confirm=True)}" class="inline-form" data-opens-dialog="transition-void"'
        in text
    )


@pytest.mark.parametrize(
    ("factory", "name", "question"),
    [
        (make_invoice, "void", "Void this invoice?"),
        (make_invoice, "mark-uncollectible", "Mark this invoice uncollectible?"),
        (make_subscription, "cancel", "Cancel this subscription now?"),
        (make_quote, "cancel", "Cancel this quote?"),
    ],
)
def test_without_javascript_the_confirmation_is_a_page(editor_client, factory, name, question):
    obj = factory()
    response = editor_client.get(_url(obj, name, confirm=True))
    assert response.status_code == 200
    assert question in response.text
    assert f'<form method="post" action="{_url(obj, name)}"' in response.text
    assert f'href="{_page(obj)}">Go back</a>' in response.text
    obj.refresh_from_db()
    assert _events(obj) == []  # looking is not doing


def test_the_due_date_form_is_labelled(editor_client):
    invoice = make_invoice()
    text = editor_client.get(_page(invoice)).text
    assert '<label for="id_due_date">Due date</label>' in text
    assert 'type="datetime-local" name="due_date"' in text
    assert ">Save due date</button>" in text


def test_the_confirmation_page_of_a_transition_not_offered_goes_back_with_a_message(editor_client):
    invoice = make_invoice(status="paid")
    response = editor_client.get(_url(invoice, "void", confirm=True), follow=True)
    assert response.redirect_chain == [(_page(invoice), 302)]
    assert "not possible while the invoice is paid" in response.text


# --- Refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("factory", "name"),
    [
        (lambda: make_invoice(status="paid"), "void"),
        (lambda: make_invoice(status="open"), "finalize"),
        (lambda: make_invoice(status="void"), "mark-paid"),
        (lambda: make_invoice(status="draft"), "attempt-payment"),
        (lambda: make_invoice(status="open"), "mark-overdue"),  # not past its due date
        (lambda: make_subscription(status="canceled"), "cancel"),
        (lambda: make_subscription(status="canceled"), "unschedule-cancellation"),
        (lambda: make_quote(status="draft"), "accept"),
        (lambda: make_quote(status="accepted"), "cancel"),
    ],
)
def test_a_transition_the_state_does_not_allow_is_a_409_with_the_message_and_changes_nothing(
    editor_client, factory, name
):
    obj = factory()
    before = obj.status
    response = _post(editor_client, obj, name)
    assert response.status_code == 409
    assert 'role="alert"' in response.text
    assert response.context["transition_error"].startswith(TRANSITIONS[obj._meta.model_name][name].label + ": ")
    obj.refresh_from_db()
    assert obj.status == before
    assert _events(obj) == []


def test_a_billing_error_is_a_400_with_the_message(editor_client):
    subscription = make_subscription()
    response = _post(editor_client, subscription, "unschedule-cancellation")
    assert response.status_code == 400
    assert "has no scheduled cancellation" in response.text
    past = {"when": "date", "cancel_at": _local(timezone.now() - timedelta(days=1))}
    response = _post(editor_client, subscription, "schedule-cancellation", past)
    assert response.status_code == 400
    assert "must be in the future" in response.text
    assert "data-modal" in response.text  # the dialog comes back, with what was typed


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "Due date: This field is required."),
        ({"due_date": "not a date"}, "Due date: Enter a valid date/time."),
        ({"due_date": "2025-02-30"}, "Due date: Enter a valid date/time."),
        ({"due_date": "0001-01-01T00:00"}, "Due date: Enter a date between 2000 and 2100."),
        ({"due_date": "9999-12-31T23:59"}, "Due date: Enter a date between 2000 and 2100."),
        ({"due_date": "99999-01-01"}, "Due date: Enter a valid date/time."),
    ],
)
def test_a_bad_due_date_is_a_400_with_the_message_next_to_the_field(editor_client, data, message):
    invoice = make_invoice()
    response = _post(editor_client, invoice, "change-due-date", data)
    assert response.status_code == 400
    assert response.context["transition_error"] == f"Change due date: {message}"
    assert 'class="field field-invalid"' in response.text
    invoice.refresh_from_db()
    assert invoice.due_date is None and _events(invoice) == []


def test_bad_schedule_and_pause_forms_are_400s(editor_client):
    subscription = make_subscription()
    cases = [
        ("schedule-cancellation", {"when": "date"}, "Cancellation date: Choose the cancellation date."),
        ("schedule-cancellation", {"when": "tomorrow"}, "Cancel the subscription: Select a valid choice."),
        ("pause-collection", {"behavior": "forever"}, "Invoices during the pause: Select a valid choice."),
        (
            "pause-collection",
            {"behavior": "void", "resumes_at": _local(timezone.now() - timedelta(days=1))},
            "Collection must resume after the pause starts.",
        ),
    ]
    for name, data, message in cases:
        response = _post(editor_client, subscription, name, data)
        assert response.status_code == 400, name
        assert message in response.context["transition_error"]
    subscription.refresh_from_db()
    assert subscription.status == "active" and subscription.cancel_at is None and _events(subscription) == []


HOSTILE = [
    "", " ", "0", "-1", "1e309", "9" * 400, "NaN", "2024-13-01", "2024-02-30T10:00", "2024-01-01T25:61",
    "0000-00-00", "１２０２５-01-01", "<script>alert(1)</script>", "' OR 1=1 --", "\x00", "\ud800".encode(
        "utf-8", "surrogatepass"
    ).decode("utf-8", "replace"), "period_end", "date", "void", "keep_as_draft", "2030-01-01T00:00",
]  # fmt: skip


def test_hostile_values_posted_to_every_transition_never_give_a_500(editor_client):
    """Each transition gets every hostile value in every field, on an object whose state offers it
    (so the form and the service really run) and on one whose state does not."""

    def objects(kind):
        return {
            "invoice": lambda: (
                [make_invoice(status=s) for s in ("draft", "open", "paid")]
                + [make_invoice(due_date=timezone.now() - timedelta(days=1))]
            ),
            "subscription": lambda: (
                [make_subscription(status=s) for s in ("active", "paused", "canceled")]
                + [make_subscription(cancel_at=timezone.now() + timedelta(days=3))]
            ),
            "quote": lambda: [make_quote(status=s) for s in ("draft", "open", "canceled")],
        }[kind]()

    fields = ["due_date", "when", "cancel_at", "behavior", "starts_at", "resumes_at", "csrfmiddlewaretoken", "x"]
    for kind, transitions in TRANSITIONS.items():
        for name, transition in transitions.items():
            candidates = objects(kind)
            offered = next(obj for obj in candidates if transition.offered(obj))
            refused = next(obj for obj in candidates if not transition.offered(obj))
            for obj, value in [(offered, value) for value in HOSTILE] + [(refused, HOSTILE[-1])]:
                response = _post(editor_client, obj, name, dict.fromkeys(fields, value))
                assert response.status_code in (302, 400, 409), (kind, name, obj.status, value)
                if response.status_code != 302:
                    assert response.context["transition_error"]
                obj.refresh_from_db()


def test_an_unknown_transition_or_object_is_a_404(editor_client):
    invoice = make_invoice()
    assert _post(editor_client, invoice, "explode").status_code == 404
    assert _post(editor_client, make_quote(), "mark-paid").status_code == 404  # an invoice transition
    assert editor_client.post(reverse("invoice_transition", args=["in_nope", "void"])).status_code == 404
    assert (
        editor_client.get(reverse("invoice_transition_confirm", args=[invoice.public_id, "explode"])).status_code == 404
    )


def test_transitions_take_post_only(editor_client):
    invoice = make_invoice()
    assert editor_client.get(_url(invoice, "void")).status_code == 405
    assert editor_client.put(_url(invoice, "void")).status_code == 405
    invoice.refresh_from_db()
    assert invoice.status == "open"


# --- Viewers ------------------------------------------------------------------------------------


def test_viewers_see_no_transition_controls(viewer_client):
    for obj in [make_invoice(due_date=timezone.now() - timedelta(days=1)), make_subscription(), make_quote()]:
        text = viewer_client.get(_page(obj)).text
        assert 'class="transitions"' not in text
        assert "<dialog" not in text
        for transition in TRANSITIONS[obj._meta.model_name].values():
            assert f">{transition.label}</button>" not in text


@pytest.mark.parametrize("kind", ["invoice", "subscription", "quote"])
def test_viewers_are_refused_every_transition_with_a_403(viewer_client, kind):
    obj = {"invoice": make_invoice, "subscription": make_subscription, "quote": make_quote}[kind]()
    for name in TRANSITIONS[kind]:
        assert _post(viewer_client, obj, name, {"due_date": "2030-01-01", "when": "period_end"}).status_code == 403
        assert viewer_client.get(_url(obj, name, confirm=True)).status_code == 403
    obj.refresh_from_db()
    assert _events(obj) == []


def test_outsiders_and_anonymous_users_cannot_post_either(client, outsider):
    invoice = make_invoice()
    response = client.post(_url(invoice, "void"))
    assert response.status_code == 302 and "login" in response["Location"]
    client.force_login(outsider)
    assert client.post(_url(invoice, "void")).status_code == 403
    invoice.refresh_from_db()
    assert invoice.status == "open"
