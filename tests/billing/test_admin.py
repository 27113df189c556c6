"""The billing admin: pages render, saves and actions go through the services, refusals become messages."""

from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone
from moneyed import Money

from billing import services
from billing.models import (
    AccountSettings,
    Customer,
    Event,
    Invoice,
    InvoiceStatus,
    PaymentAttempt,
    Price,
    Product,
    Quote,
    QuoteStatus,
    RetryPolicy,
    Subscription,
    SubscriptionStatus,
)
from tests.factories import (
    DECLINED_CARD,
    make_customer,
    make_invoice,
    make_price,
    make_quote,
    make_subscription,
)

pytestmark = pytest.mark.django_db


# --- Helpers ----------------------------------------------------------------------------------


class _FormFields(HTMLParser):
    """What a browser would post from the form with `form_id`, as it was rendered."""

    def __init__(self, form_id: str):
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.inside = False
        self.data: dict[str, list[str]] = {}
        self.select: str | None = None
        self.options: list[tuple[str, bool]] = []
        self.textarea: str | None = None
        self.text = ""

    def _add(self, name: str, value: str) -> None:
        self.data.setdefault(name, []).append(value)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and attrs.get("id") == self.form_id:
            self.inside = True
        if not self.inside or "name" not in attrs and tag != "option":
            return
        if tag == "input":
            kind = attrs.get("type", "text")
            if (
                kind in ("submit", "button", "reset", "file")
                or kind in ("checkbox", "radio")
                and "checked" not in attrs
            ):
                return
            self._add(attrs["name"], attrs.get("value") or ("on" if kind == "checkbox" else ""))
        elif tag == "select":
            self.select, self.options = attrs["name"], []
        elif tag == "option" and self.select:
            self.options.append((attrs.get("value", ""), "selected" in attrs))
        elif tag == "textarea":
            self.textarea, self.text = attrs["name"], ""

    def handle_data(self, data):
        if self.textarea:
            self.text += data

    def handle_endtag(self, tag):
        if tag == "form" and self.inside:
            self.inside = False
        elif tag == "select" and self.select:
            chosen = [value for value, selected in self.options if selected] or [v for v, _ in self.options[:1]]
            for value in chosen:
                self._add(self.select, value)
            self.select = None
        elif tag == "textarea" and self.textarea:
            self._add(self.textarea, self.text.lstrip("\n"))
            self.textarea = None


def form_data(response, form_id: str) -> dict[str, list[str]]:
    parser = _FormFields(form_id)
    parser.feed(response.content.decode())
    assert parser.data, f"form #{form_id} not found"
    return parser.data


def messages_of(response) -> list[tuple[str, str]]:
    return [(m.level_tag, m.message) for m in get_messages(response.wsgi_request)]


def changelist(model: str) -> str:
    return reverse(f"admin:billing_{model}_changelist")


def change_url(obj) -> str:
    return reverse(f"admin:billing_{obj._meta.model_name}_change", args=[obj.pk])


def add_url(model: str) -> str:
    return reverse(f"admin:billing_{model}_add")


def run_action(client, action: str, *objects, **fields):
    """Pick `action` for the selected `objects` on their change list."""
    url = changelist(objects[0]._meta.model_name)
    return client.post(url, {"action": action, "index": 0, "_selected_action": [o.pk for o in objects], **fields})


def confirm_action(client, action: str, *objects, **fields):
    """Post back the action's intermediate page, confirmed."""
    url = changelist(objects[0]._meta.model_name)
    return client.post(url, {"action": action, "post": "yes", "_selected_action": [o.pk for o in objects], **fields})


def local_input(moment) -> str:
    """A time as a datetime-local input sends it."""
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


def events(obj, type: str | None = None):
    found = Event.objects.filter(object_id=obj.public_id)
    return found.filter(type=type) if type else found


@pytest.fixture
def billing_data(db):
    """One of each billing object, made through the services where it matters."""
    customer = services.customer_create(name="Ada Lovelace", email="ada@analytical.example", currency="EUR")
    customer.default_payment_method = DECLINED_CARD
    customer.save()
    price = make_price(name="Engine rental")
    subscription = make_subscription(customer=customer, price=price)
    invoice = make_invoice(customer=customer, subscription=subscription)
    services.invoice_attempt_payment(invoice=invoice)  # declined: a payment attempt and events
    quote = make_quote(customer=customer)
    policy = RetryPolicy.objects.create(name="Annual")
    settings = AccountSettings.load()
    return {
        "customer": customer,
        "product": price.product,
        "price": price,
        "subscription": subscription,
        "invoice": invoice,
        "quote": quote,
        "paymentattempt": PaymentAttempt.objects.get(invoice=invoice),
        "retrypolicy": policy,
        "event": Event.objects.filter(object_id=invoice.public_id).first(),
        "accountsettings": settings,
    }


MODELS = [
    "customer",
    "product",
    "price",
    "subscription",
    "invoice",
    "quote",
    "paymentattempt",
    "retrypolicy",
    "event",
    "accountsettings",
]


# --- Every page renders -----------------------------------------------------------------------


@pytest.mark.parametrize("model", MODELS)
def test_every_changelist_renders_with_data(admin_client, billing_data, model):
    response = admin_client.get(changelist(model))
    assert response.status_code == 200
    assert response.context["cl"].result_count >= 1


@pytest.mark.parametrize("model", MODELS)
def test_every_change_page_renders(admin_client, billing_data, model):
    response = admin_client.get(change_url(billing_data[model]))
    assert response.status_code == 200


@pytest.mark.parametrize("model", ["customer", "product", "price", "subscription", "invoice", "quote", "retrypolicy"])
def test_every_add_page_renders(admin_client, billing_data, model):
    assert admin_client.get(add_url(model)).status_code == 200


def test_the_exchange_rate_admin_is_still_there(admin_client):
    assert admin_client.get(reverse("admin:exchange_rate_changelist")).status_code == 200


@pytest.mark.parametrize(
    ("model", "query"),
    [
        ("customer", "analytical"),
        ("subscription", "ada@analytical"),
        ("invoice", "Lovelace"),
        ("quote", "ada@analytical"),
        ("paymentattempt", "ada@analytical"),
        ("price", "Engine"),
        ("product", "Engine"),
        ("retrypolicy", "Annual"),
    ],
)
def test_search_finds_the_object_and_leaves_out_others(admin_client, billing_data, model, query):
    other = {
        "customer": make_customer,
        "subscription": make_subscription,
        "invoice": make_invoice,
        "quote": make_quote,
        "paymentattempt": lambda: PaymentAttempt.objects.create(
            invoice=make_invoice(), created=timezone.now(), attempt_number=1, amount=Money(1, "EUR"), outcome="failed"
        ),
        "price": lambda: make_price(name="Other product"),
        "product": lambda: Product.objects.create(name="Other product"),
        "retrypolicy": lambda: RetryPolicy.objects.create(name="Monthly"),
    }[model]()

    results = list(admin_client.get(changelist(model), {"q": query}).context["cl"].result_list)

    assert results == [billing_data[model]]
    assert other not in results


def test_invoices_are_found_by_number_and_public_id(admin_client, billing_data):
    invoice = billing_data["invoice"]
    make_invoice()
    for query in (invoice.number, invoice.public_id):
        results = list(admin_client.get(changelist("invoice"), {"q": query}).context["cl"].result_list)
        assert results == [invoice]


def test_events_are_found_by_object_id(admin_client, billing_data):
    quote = billing_data["quote"]
    services.quote_cancel(quote=quote)

    results = admin_client.get(changelist("event"), {"q": quote.public_id}).context["cl"].result_list

    assert [event.type for event in results] == ["quote.canceled"]


def test_subscriptions_can_be_filtered_by_interval(admin_client):
    monthly = make_subscription(price=make_price(interval="month"))
    yearly = make_subscription(price=make_price(interval="year"))

    results = list(admin_client.get(changelist("subscription"), {"interval": "year"}).context["cl"].result_list)

    assert results == [yearly]
    assert monthly not in results


def _thirty_of_each():
    product = Product.objects.create(name="Bulk")
    for n in range(30):
        customer = make_customer()
        price = make_price(product=product, amount=f"{n + 1}.00")
        subscription = make_subscription(customer=customer, price=price)
        invoice = make_invoice(customer=customer, subscription=subscription)
        PaymentAttempt.objects.create(
            invoice=invoice, created=timezone.now(), attempt_number=1, amount=invoice.total, outcome="failed"
        )
        make_quote(customer=customer)
        RetryPolicy.objects.create(name=f"Policy {n}")
        services.customer_update(customer=customer, name=f"Renamed {n}")


@pytest.mark.parametrize("model", MODELS)
def test_changelists_keep_their_queries_bounded(admin_client, django_assert_max_num_queries, model):
    _thirty_of_each()
    AccountSettings.load()
    with django_assert_max_num_queries(12):
        response = admin_client.get(changelist(model))
    assert response.status_code == 200


# --- Customers --------------------------------------------------------------------------------


def test_adding_a_customer_goes_through_the_service_and_records_customer_created(admin_client):
    response = admin_client.post(
        add_url("customer"),
        {
            "name": "Grace Hopper",
            "email": "grace@navy.example",
            "currency": "USD",
            "default_payment_method": "4242424242424242",
            "metadata": '{"segment": "enterprise"}',
            "_save": "Save",
        },
    )

    assert response.status_code == 302
    customer = Customer.objects.get(email="grace@navy.example")
    assert customer.currency == "USD"
    assert customer.metadata == {"segment": "enterprise"}
    assert events(customer, "customer.created").count() == 1


def test_editing_a_customer_records_customer_updated_with_previous_attributes(admin_client):
    customer = make_customer(name="Old name")
    page = admin_client.get(change_url(customer))
    data = form_data(page, "customer_form")
    data.update(name=["New name"], _save=["Save"])

    response = admin_client.post(change_url(customer), data)

    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.name == "New name"
    event = events(customer, "customer.updated").get()
    assert event.previous_attributes == {"name": "Old name"}


def test_metadata_the_service_refuses_shows_the_reason_and_saves_nothing(admin_client):
    customer = make_customer(metadata={"plan": "gold"})
    data = form_data(admin_client.get(change_url(customer)), "customer_form")
    data.update(metadata=['{"": "empty key"}'], name=["Changed too"], _save=["Save"])

    response = admin_client.post(change_url(customer), data)

    assert response.status_code == 200
    assert "must be a non-empty text" in str(response.context["adminform"].form.non_field_errors())
    customer.refresh_from_db()
    assert (customer.name, customer.metadata) != ("Changed too", {"": "empty key"})
    assert not events(customer).exists()


# --- Invoices: saving -------------------------------------------------------------------------


def _invoice_add_data(customer, **fields):
    data = {
        "customer": customer.pk,
        "currency": "",
        "description": "Workshop",
        "metadata": "{}",
        "collection_method": "send_invoice",
        "days_until_due": "14",
        "auto_advance": "on",
        "lines-TOTAL_FORMS": "2",
        "lines-INITIAL_FORMS": "0",
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "1000",
        "_save": "Save",
    }
    for n in range(2):  # what the browser sends for a line left empty
        data.update({f"lines-{n}-quantity": "1", f"lines-{n}-unit_amount_1": customer.currency})
    data.update(fields)
    return data


def test_adding_an_invoice_with_lines_creates_a_draft_through_invoice_create(admin_client):
    customer = make_customer(currency="EUR")
    price = make_price(amount="30.00", name="Training seat")
    data = _invoice_add_data(
        customer,
        **{
            "lines-0-price": price.pk,
            "lines-0-quantity": "2",
            "lines-0-unit_amount_1": "EUR",
            "lines-1-description": "Travel",
            "lines-1-quantity": "1",
            "lines-1-unit_amount_0": "15.50",
            "lines-1-unit_amount_1": "EUR",
        },
    )

    response = admin_client.post(add_url("invoice"), data)

    assert response.status_code == 302
    invoice = Invoice.objects.get(customer=customer)
    assert invoice.status == InvoiceStatus.DRAFT
    assert invoice.total == Money("75.50", "EUR")
    assert [(line.description, line.amount) for line in invoice.lines.all()] == [
        ("Training seat", Money("60.00", "EUR")),
        ("Travel", Money("15.50", "EUR")),
    ]
    assert invoice.days_until_due == 14
    assert events(invoice, "invoice.created").count() == 1


def test_adding_an_invoice_without_lines_shows_the_reason_and_creates_nothing(admin_client):
    customer = make_customer()

    response = admin_client.post(add_url("invoice"), _invoice_add_data(customer))

    assert response.status_code == 200
    assert "Add at least one line." in str(response.context["adminform"].form.non_field_errors())
    assert not Invoice.objects.exists()
    assert not Event.objects.exists()


def test_adding_an_invoice_line_in_another_currency_shows_the_reason(admin_client):
    customer = make_customer(currency="EUR")
    data = _invoice_add_data(
        customer,
        **{"lines-0-description": "Fee", "lines-0-quantity": "1"},
        **{"lines-0-unit_amount_0": "10", "lines-0-unit_amount_1": "USD"},
    )

    response = admin_client.post(add_url("invoice"), data)

    assert response.status_code == 200
    assert "is in USD, but the document is in EUR" in response.content.decode()
    assert not Invoice.objects.exists()


def test_editing_an_invoice_due_date_records_invoice_updated_with_previous_attributes(admin_client):
    old_due = timezone.now().replace(microsecond=0) + timedelta(days=10)
    invoice = make_invoice(status="open", due_date=old_due)
    data = form_data(admin_client.get(change_url(invoice)), "invoice_form")
    new_due = timezone.localtime(old_due + timedelta(days=5))
    data.update(due_date_0=[new_due.strftime("%Y-%m-%d")], due_date_1=[new_due.strftime("%H:%M:%S")], _save=["Save"])

    response = admin_client.post(change_url(invoice), data)

    assert response.status_code == 302
    invoice.refresh_from_db()
    assert invoice.due_date == old_due + timedelta(days=5)
    event = events(invoice, "invoice.updated").get()
    assert event.previous_attributes == {"due_date": int(old_due.timestamp())}


def test_the_invoice_status_cannot_be_changed_in_the_form(admin_client):
    invoice = make_invoice(status="open")
    data = form_data(admin_client.get(change_url(invoice)), "invoice_form")
    data.update(status=["paid"], attempt_count=["5"], _save=["Save"])

    admin_client.post(change_url(invoice), data)

    invoice.refresh_from_db()
    assert (invoice.status, invoice.attempt_count) == ("open", 0)
    assert not events(invoice).exists()


def test_editing_the_lines_of_a_draft_invoice_recalculates_its_total(admin_client):
    invoice = make_invoice(status="draft", amount="100.00")
    data = form_data(admin_client.get(change_url(invoice)), "invoice_form")
    data.update(
        {
            "lines-0-quantity": ["3"],
            "lines-1-description": ["Support"],
            "lines-1-unit_amount_0": ["20.00"],
            "lines-1-unit_amount_1": ["EUR"],
            "_save": ["Save"],
        }
    )

    response = admin_client.post(change_url(invoice), data)

    assert response.status_code == 302
    invoice.refresh_from_db()
    assert invoice.total == Money("320.00", "EUR")
    assert invoice.lines.count() == 2
    assert events(invoice, "invoice.updated").get().previous_attributes["total"] == 10000


def test_a_draft_line_the_service_refuses_shows_the_reason_and_changes_nothing(admin_client):
    invoice = make_invoice(status="draft", amount="100.00")
    data = form_data(admin_client.get(change_url(invoice)), "invoice_form")
    data.update({"lines-0-quantity": ["0"], "_save": ["Save"]})

    response = admin_client.post(change_url(invoice), data)

    assert response.status_code == 200
    assert "Quantity must be at least 1." in response.content.decode()
    assert invoice.lines.get().quantity == 1
    assert not events(invoice).exists()


def test_the_lines_of_an_open_invoice_cannot_change(admin_client):
    invoice = make_invoice(status="open", amount="100.00")
    page = admin_client.get(change_url(invoice))
    lines = page.context["inline_admin_formsets"][0]
    assert not (lines.has_add_permission or lines.has_change_permission or lines.has_delete_permission)
    data = form_data(page, "invoice_form")
    data.update({"lines-0-quantity": ["9"], "_save": ["Save"]})  # posted anyway: ignored

    assert admin_client.post(change_url(invoice), data).status_code == 302

    invoice.refresh_from_db()
    assert invoice.lines.get().quantity == 1
    assert invoice.total == Money("100.00", "EUR")


def test_a_paid_invoice_only_lets_its_metadata_change(admin_client):
    invoice = make_invoice(status="paid")
    form = admin_client.get(change_url(invoice)).context["adminform"].form
    assert list(form.fields) == ["metadata"]


# --- Invoices: actions ------------------------------------------------------------------------


def test_the_invoice_list_offers_each_transition_as_an_action(admin_client):
    make_invoice()

    choices = dict(admin_client.get(changelist("invoice")).context["action_form"].fields["action"].choices)

    assert {name: choices.get(name) for name in ("finalize", "attempt_payment", "mark_paid", "void")} == {
        "finalize": "Finalize selected invoices",
        "attempt_payment": "Attempt payment of selected invoices",
        "mark_paid": "Mark selected invoices paid out of band",
        "void": "Void selected invoices",
    }
    assert "delete_selected" not in choices


@pytest.mark.parametrize(
    ("action", "source", "target", "event_type", "message"),
    [
        ("finalize", "draft", "open", "invoice.finalized", "1 invoice finalized."),
        ("mark_paid", "open", "paid", "invoice.paid", "1 invoice marked paid out of band."),
        ("void", "open", "void", "invoice.voided", "1 invoice voided."),
        (
            "mark_uncollectible",
            "open",
            "uncollectible",
            "invoice.marked_uncollectible",
            "1 invoice marked uncollectible.",
        ),
    ],
)
def test_each_invoice_action_changes_the_status_and_records_its_event(
    admin_client, action, source, target, event_type, message
):
    invoice = make_invoice(status=source)

    response = confirm_action(admin_client, action, invoice)

    assert response.status_code == 302
    invoice.refresh_from_db()
    assert invoice.status == target
    assert events(invoice, event_type).count() == 1
    assert ("success", message) in messages_of(response)


def test_attempting_payment_with_a_good_card_pays_the_invoice(admin_client):
    invoice = make_invoice(status="open")

    response = run_action(admin_client, "attempt_payment", invoice)

    invoice.refresh_from_db()
    assert invoice.status == "paid"
    assert events(invoice, "invoice.paid").count() == 1
    assert ("success", "1 invoice paid.") in messages_of(response)


def test_a_declined_payment_is_reported_as_a_warning_and_recorded(admin_client):
    invoice = make_invoice(status="open", customer=make_customer(default_payment_method=DECLINED_CARD))

    response = run_action(admin_client, "attempt_payment", invoice)

    invoice.refresh_from_db()
    assert (invoice.status, invoice.attempt_count) == ("open", 1)
    assert events(invoice, "invoice.payment_failed").count() == 1
    assert ("warning", f"{invoice}: payment failed (card_declined): Your card was declined.") in messages_of(response)


@pytest.mark.parametrize("action", ["void", "mark_uncollectible"])
def test_destructive_invoice_actions_ask_for_confirmation_first(admin_client, action):
    invoice = make_invoice(status="open")

    response = run_action(admin_client, action, invoice)

    assert response.status_code == 200
    assert "admin/billing/action_confirmation.html" in [t.name for t in response.templates]
    assert str(invoice) in response.content.decode()
    invoice.refresh_from_db()
    assert invoice.status == "open"
    assert not events(invoice).exists()


def test_voiding_a_paid_invoice_shows_an_error_and_changes_nothing(admin_client):
    invoice = make_invoice(status="paid")

    response = confirm_action(admin_client, "void", invoice)

    assert response.status_code == 302
    assert messages_of(response) == [
        ("error", f"{invoice.number}: Invoice {invoice.public_id} is paid; it cannot become void.")
    ]
    invoice.refresh_from_db()
    assert invoice.status == "paid"
    assert not events(invoice).exists()


@pytest.mark.parametrize(
    ("action", "status", "error"),
    [
        ("finalize", "paid", "is paid; it cannot become open."),
        ("attempt_payment", "draft", "only open invoices can be charged."),
        ("mark_paid", "void", "is void; it cannot become paid."),
        ("mark_uncollectible", "draft", "is draft; it cannot become uncollectible."),
    ],
)
def test_an_invoice_action_refused_by_the_service_changes_nothing(admin_client, action, status, error):
    invoice = make_invoice(status=status)

    response = confirm_action(admin_client, action, invoice)

    assert response.status_code == 302
    [(level, text)] = messages_of(response)
    assert level == "error"
    assert text.startswith(f"{invoice}: ")
    assert text.endswith(error)
    invoice.refresh_from_db()
    assert invoice.status == status
    assert not Event.objects.exists()


def test_an_action_reports_each_refusal_by_name_and_sums_up_the_successes(admin_client):
    open_invoices = [make_invoice(status="open"), make_invoice(status="open")]
    paid = make_invoice(status="paid")

    response = confirm_action(admin_client, "void", *open_invoices, paid)

    assert set(messages_of(response)) == {
        ("error", f"{paid}: Invoice {paid.public_id} is paid; it cannot become void."),
        ("success", "2 invoices voided."),
    }
    assert Invoice.objects.filter(status="void").count() == 2


def test_an_invoice_action_can_be_run_from_the_invoice_page(admin_client):
    invoice = make_invoice(status="draft")

    response = admin_client.post(
        change_url(invoice), {"CHANGE_FORM-action": "finalize", "_selected_action": invoice.pk}
    )

    assert response.status_code == 302
    assert response.url == change_url(invoice)
    invoice.refresh_from_db()
    assert invoice.status == "open"


def test_a_confirmation_started_on_the_invoice_page_posts_back_there(admin_client):
    invoice = make_invoice(status="open")
    page = admin_client.post(change_url(invoice), {"CHANGE_FORM-action": "void", "_selected_action": invoice.pk})
    assert page.status_code == 200
    data = form_data_of_confirmation(page)
    assert data["CHANGE_FORM-action"] == ["void"]

    response = admin_client.post(change_url(invoice), data)

    assert response.status_code == 302
    invoice.refresh_from_db()
    assert invoice.status == "void"


def form_data_of_confirmation(response) -> dict[str, list[str]]:
    html = response.content.decode().replace('<form method="post" novalidate>', '<form id="confirm" method="post">')
    parser = _FormFields("confirm")
    parser.feed(html)
    return parser.data


# --- Subscriptions ----------------------------------------------------------------------------


def test_canceling_a_subscription_now_asks_for_confirmation_then_cancels_it(admin_client):
    subscription = make_subscription()

    page = run_action(admin_client, "cancel_now", subscription)
    assert page.status_code == 200
    subscription.refresh_from_db()
    assert subscription.status == "active"

    response = admin_client.post(changelist("subscription"), form_data_of_confirmation(page))

    assert response.status_code == 302
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.CANCELED
    assert events(subscription, "customer.subscription.deleted").count() == 1
    assert ("success", "1 subscription canceled.") in messages_of(response)


def test_canceling_a_canceled_subscription_shows_an_error_and_changes_nothing(admin_client):
    subscription = make_subscription(status="canceled")

    response = confirm_action(admin_client, "cancel_now", subscription)

    assert response.status_code == 302
    assert messages_of(response) == [
        ("error", f"{subscription}: Subscription {subscription.public_id} is canceled; it cannot become canceled.")
    ]
    assert not events(subscription).exists()


def test_cancel_at_period_end_schedules_the_cancellation(admin_client):
    subscription = make_subscription()

    response = run_action(admin_client, "cancel_at_period_end", subscription)

    subscription.refresh_from_db()
    assert subscription.cancel_at == subscription.current_period_end
    assert subscription.cancel_at_period_end
    assert events(subscription, "customer.subscription.updated").get().previous_attributes == {
        "cancel_at": None,
        "cancel_at_period_end": False,
    }
    assert ("success", "1 subscription scheduled to cancel at the end of the current period.") in messages_of(response)


def test_cancel_at_a_date_asks_for_the_date_then_schedules_the_cancellation(admin_client):
    subscription = make_subscription()
    at = (timezone.now() + timedelta(days=5)).replace(second=0, microsecond=0)

    page = run_action(admin_client, "cancel_at_date", subscription)
    assert page.status_code == 200
    assert "cancel_at" in page.context["form"].fields
    data = form_data_of_confirmation(page)
    data["cancel_at"] = [local_input(at)]

    response = admin_client.post(changelist("subscription"), data)

    assert response.status_code == 302
    subscription.refresh_from_db()
    assert subscription.cancel_at == at
    assert not subscription.cancel_at_period_end
    assert events(subscription, "customer.subscription.updated").count() == 1


def test_cancel_at_a_past_date_is_refused_on_the_form_and_changes_nothing(admin_client):
    subscription = make_subscription()

    response = confirm_action(
        admin_client, "cancel_at_date", subscription, cancel_at=local_input(timezone.now() - timedelta(days=1))
    )

    assert response.status_code == 200
    assert response.context["form"].errors == {"cancel_at": ["Choose a time in the future."]}
    assert "Choose a time in the future." in response.content.decode()
    subscription.refresh_from_db()
    assert subscription.cancel_at is None
    assert not events(subscription).exists()


def test_removing_a_scheduled_cancellation(admin_client):
    subscription = make_subscription(cancel_at=timezone.now() + timedelta(days=3))

    response = run_action(admin_client, "unschedule_cancel", subscription)

    subscription.refresh_from_db()
    assert subscription.cancel_at is None
    assert events(subscription, "customer.subscription.updated").count() == 1
    assert ("success", "1 subscription no longer scheduled to cancel.") in messages_of(response)


def test_removing_a_cancellation_that_was_never_scheduled_shows_an_error(admin_client):
    subscription = make_subscription()

    response = run_action(admin_client, "unschedule_cancel", subscription)

    assert messages_of(response) == [
        ("error", f"{subscription}: Subscription {subscription.public_id} has no scheduled cancellation.")
    ]
    assert not events(subscription).exists()


def test_pausing_collection_now(admin_client):
    subscription = make_subscription()

    page = run_action(admin_client, "pause_collection", subscription)
    assert page.status_code == 200
    response = confirm_action(admin_client, "pause_collection", subscription, behavior="void")

    assert response.status_code == 302
    subscription.refresh_from_db()
    assert (subscription.status, subscription.pause_behavior) == ("paused", "void")
    assert events(subscription, "customer.subscription.updated").count() == 1
    assert ("success", "1 subscription paused.") in messages_of(response)


def test_pausing_collection_later_schedules_the_pause(admin_client):
    subscription = make_subscription()
    starts = (timezone.now() + timedelta(days=2)).replace(second=0, microsecond=0)
    resumes = starts + timedelta(days=30)

    confirm_action(
        admin_client,
        "pause_collection",
        subscription,
        behavior="keep_as_draft",
        starts_at=local_input(starts),
        resumes_at=local_input(resumes),
    )

    subscription.refresh_from_db()
    assert subscription.status == "active"
    assert (subscription.pause_starts_at, subscription.pause_resumes_at) == (starts, resumes)
    assert events(subscription, "customer.subscription.updated").count() == 1


@pytest.mark.parametrize(
    ("fields", "field", "error"),
    [
        ({"starts_at": "past"}, "starts_at", "Choose a time in the future."),
        ({"resumes_at": "past"}, "resumes_at", "Choose a time in the future."),
        ({"starts_at": "in 5 days", "resumes_at": "in 2 days"}, "resumes_at", "Collection must resume after"),
    ],
)
def test_pausing_with_a_date_in_the_past_or_out_of_order_is_refused_on_the_form(admin_client, fields, field, error):
    subscription = make_subscription()
    moments = {
        "past": timezone.now() - timedelta(hours=1),
        "in 2 days": timezone.now() + timedelta(days=2),
        "in 5 days": timezone.now() + timedelta(days=5),
    }
    values = {name: local_input(moments[when]) for name, when in fields.items()}

    response = confirm_action(admin_client, "pause_collection", subscription, behavior="void", **values)

    assert response.status_code == 200
    assert error in response.context["form"].errors[field][0]
    subscription.refresh_from_db()
    assert (subscription.status, subscription.pause_behavior) == ("active", "")
    assert not events(subscription).exists()


def test_resuming_collection_of_a_paused_subscription(admin_client):
    subscription = make_subscription(status="paused", pause_behavior="void", pause_starts_at=timezone.now())

    response = run_action(admin_client, "resume_collection", subscription)

    subscription.refresh_from_db()
    assert subscription.status == "active"
    assert events(subscription, "customer.subscription.updated").count() == 1
    assert ("success", "1 subscription resumed.") in messages_of(response)


def test_resuming_a_subscription_that_was_never_paused_shows_an_error(admin_client):
    subscription = make_subscription()

    response = run_action(admin_client, "resume_collection", subscription)

    [(level, text)] = messages_of(response)
    assert level == "error"
    assert text == f"{subscription}: Subscription {subscription.public_id} has no paused or scheduled collection."


def test_adding_a_subscription_goes_through_subscription_create_and_bills_the_first_period(admin_client):
    customer = make_customer()
    price = make_price(amount="49.00")

    response = admin_client.post(
        add_url("subscription"),
        {
            "customer": customer.pk,
            "collection_method": "charge_automatically",
            "days_until_due": "",
            "metadata": '{"source": "admin"}',
            "items-TOTAL_FORMS": "1",
            "items-INITIAL_FORMS": "0",
            "items-MIN_NUM_FORMS": "0",
            "items-MAX_NUM_FORMS": "1000",
            "items-0-price": price.pk,
            "items-0-quantity": "2",
            "_save": "Save",
        },
    )

    assert response.status_code == 302
    subscription = Subscription.objects.get(customer=customer)
    assert subscription.metadata == {"source": "admin"}
    assert [(item.price, item.quantity) for item in subscription.items.all()] == [(price, 2)]
    assert events(subscription, "customer.subscription.created").count() == 1
    first_invoice = subscription.invoices.get()
    assert (first_invoice.status, first_invoice.total) == ("paid", Money("98.00", "EUR"))


def test_adding_a_subscription_with_a_one_off_price_shows_the_reason(admin_client):
    customer = make_customer()
    price = make_price(interval="")

    response = admin_client.post(
        add_url("subscription"),
        {
            "customer": customer.pk,
            "collection_method": "charge_automatically",
            "metadata": "{}",
            "items-TOTAL_FORMS": "1",
            "items-INITIAL_FORMS": "0",
            "items-0-price": price.pk,
            "items-0-quantity": "1",
            "_save": "Save",
        },
    )

    assert response.status_code == 200
    assert "Subscriptions take recurring prices only." in response.content.decode()
    assert not Subscription.objects.exists()


def test_editing_a_subscription_records_customer_subscription_updated(admin_client):
    subscription = make_subscription()
    data = form_data(admin_client.get(change_url(subscription)), "subscription_form")
    data.update(collection_method=["send_invoice"], days_until_due=["15"], _save=["Save"])

    response = admin_client.post(change_url(subscription), data)

    assert response.status_code == 302
    subscription.refresh_from_db()
    assert (subscription.collection_method, subscription.days_until_due) == ("send_invoice", 15)
    event = events(subscription, "customer.subscription.updated").get()
    assert event.previous_attributes == {"collection_method": "charge_automatically", "days_until_due": None}


def test_subscription_items_are_read_only_after_creation(admin_client):
    subscription = make_subscription()
    page = admin_client.get(change_url(subscription))
    [items] = page.context["inline_admin_formsets"]
    assert not items.has_add_permission
    assert not items.has_change_permission


# --- Quotes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "source", "target", "event_type"),
    [
        ("finalize", "draft", "open", "quote.finalized"),
        ("accept", "open", "accepted", "quote.accepted"),
        ("cancel", "open", "canceled", "quote.canceled"),
    ],
)
def test_each_quote_action_changes_the_status_and_records_its_event(admin_client, action, source, target, event_type):
    quote = make_quote(status=source)

    response = confirm_action(admin_client, action, quote)

    assert response.status_code == 302
    quote.refresh_from_db()
    assert quote.status == target
    assert events(quote, event_type).count() == 1


def test_accepting_a_quote_drafts_its_invoice(admin_client):
    quote = make_quote(status="open", amount="500.00")

    run_action(admin_client, "accept", quote)

    quote.refresh_from_db()
    assert quote.invoice.status == "draft"
    assert quote.invoice.total == Money("500.00", "EUR")


def test_canceling_a_quote_asks_for_confirmation_first(admin_client):
    quote = make_quote(status="open")

    response = run_action(admin_client, "cancel", quote)

    assert response.status_code == 200
    quote.refresh_from_db()
    assert quote.status == QuoteStatus.OPEN


@pytest.mark.parametrize(
    ("action", "status", "error"),
    [
        ("finalize", "accepted", "is accepted; it cannot become open."),
        ("accept", "draft", "is draft; it cannot become accepted."),
        ("cancel", "accepted", "is accepted; it cannot become canceled."),
    ],
)
def test_a_quote_action_refused_by_the_service_changes_nothing(admin_client, action, status, error):
    quote = make_quote(status=status)

    response = confirm_action(admin_client, action, quote)

    assert response.status_code == 302
    [(level, text)] = messages_of(response)
    assert (level, text) == ("error", f"{quote}: Quote {quote.public_id} {error}")
    quote.refresh_from_db()
    assert quote.status == status
    assert not Event.objects.exists()


def test_adding_a_quote_with_lines_goes_through_quote_create(admin_client):
    customer = make_customer()
    price = make_price(amount="250.00", interval="", name="Audit")

    response = admin_client.post(
        add_url("quote"),
        {
            "customer": customer.pk,
            "currency": "",
            "description": "Security audit",
            "metadata": "{}",
            "lines-TOTAL_FORMS": "1",
            "lines-INITIAL_FORMS": "0",
            "lines-0-price": price.pk,
            "lines-0-quantity": "2",
            "lines-0-unit_amount_1": "EUR",
            "_save": "Save",
        },
    )

    assert response.status_code == 302
    quote = Quote.objects.get(customer=customer)
    assert (quote.status, quote.total) == ("draft", Money("500.00", "EUR"))
    assert events(quote, "quote.created").count() == 1


def test_editing_a_quote_expiry_into_the_past_shows_the_reason_and_changes_nothing(admin_client):
    quote = make_quote(status="open")
    expires_at = quote.expires_at
    data = form_data(admin_client.get(change_url(quote)), "quote_form")
    past = timezone.localtime(timezone.now() - timedelta(days=1))
    data.update(expires_at_0=[past.strftime("%Y-%m-%d")], expires_at_1=[past.strftime("%H:%M:%S")], _save=["Save"])

    response = admin_client.post(change_url(quote), data)

    assert response.status_code == 200
    assert "The expiry date must be in the future." in response.content.decode()
    quote.refresh_from_db()
    assert quote.expires_at == expires_at
    assert not events(quote).exists()


def test_editing_a_quote_description_records_quote_updated(admin_client):
    quote = make_quote(status="draft", description="Before")
    data = form_data(admin_client.get(change_url(quote)), "quote_form")
    data.update(description=["After"], _save=["Save"])

    response = admin_client.post(change_url(quote), data)

    assert response.status_code == 302
    assert events(quote, "quote.updated").get().previous_attributes == {"description": "Before"}


def test_editing_the_lines_of_a_draft_quote_recalculates_its_total(admin_client):
    quote = make_quote(status="draft", amount="500.00")
    data = form_data(admin_client.get(change_url(quote)), "quote_form")
    data.update({"lines-0-quantity": ["2"], "_save": ["Save"]})

    response = admin_client.post(change_url(quote), data)

    assert response.status_code == 302
    quote.refresh_from_db()
    assert quote.total == Money("1000.00", "EUR")
    assert events(quote, "quote.updated").get().previous_attributes["amount_total"] == 50000


def test_the_lines_of_an_open_quote_are_read_only(admin_client):
    quote = make_quote(status="open")
    [lines] = admin_client.get(change_url(quote)).context["inline_admin_formsets"]
    assert not (lines.has_add_permission or lines.has_change_permission or lines.has_delete_permission)


# --- Read-only records and the single settings row --------------------------------------------


def test_the_event_admin_is_read_only(admin_client, billing_data):
    event = billing_data["event"]

    assert admin_client.get(add_url("event")).status_code == 403
    assert admin_client.post(change_url(event), {"type": "invoice.paid"}).status_code == 403
    assert admin_client.get(reverse("admin:billing_event_delete", args=[event.pk])).status_code == 403
    event.refresh_from_db()
    assert event.type != "invoice.paid"


def test_an_event_page_shows_its_payload_as_pretty_json(admin_client, billing_data):
    event = billing_data["event"]

    content = admin_client.get(change_url(event)).content.decode()

    assert f"&quot;id&quot;: &quot;{event.public_id}&quot;" in content
    assert "&quot;object&quot;: &quot;event&quot;" in content
    assert "\n  &quot;type&quot;" in content  # indented


def test_payment_attempts_cannot_be_added_or_changed(admin_client, billing_data):
    attempt = billing_data["paymentattempt"]
    assert admin_client.get(add_url("paymentattempt")).status_code == 403
    assert admin_client.post(change_url(attempt), {"outcome": "succeeded"}).status_code == 403


@pytest.mark.parametrize("model", ["customer", "invoice", "subscription", "quote"])
def test_billing_objects_cannot_be_deleted_in_the_admin(admin_client, billing_data, model):
    obj = billing_data[model]
    assert admin_client.get(reverse(f"admin:billing_{model}_delete", args=[obj.pk])).status_code == 403


def test_account_settings_are_a_single_row_that_cannot_be_added_twice_or_deleted(admin_client):
    assert admin_client.get(add_url("accountsettings")).status_code == 200
    settings = AccountSettings.load()

    assert admin_client.get(add_url("accountsettings")).status_code == 403
    assert admin_client.get(reverse("admin:billing_accountsettings_delete", args=[settings.pk])).status_code == 403


def test_account_settings_keep_a_clean_list_of_team_domains(admin_client):
    settings = AccountSettings.load()
    data = form_data(admin_client.get(change_url(settings)), "accountsettings_form")
    data.update(team_email_domains=['["Acme.com", "@team.example"]'], _save=["Save"])

    assert admin_client.post(change_url(settings), data).status_code == 302

    settings.refresh_from_db()
    assert settings.team_email_domains == ["acme.com", "team.example"]


def test_a_retry_policy_with_chosen_days_must_list_them(admin_client):
    response = admin_client.post(
        add_url("retrypolicy"),
        {
            "name": "Chosen days",
            "schedule_kind": "day_offsets",
            "max_retries": "4",
            "within_days": "14",
            "day_offsets": "",
            "end_behavior": "leave_past_due",
        },
    )

    assert response.status_code == 200
    assert "List at least one day" in response.content.decode()
    assert not RetryPolicy.objects.exists()


def test_prices_are_managed_inline_on_their_product(admin_client):
    response = admin_client.post(
        add_url("product"),
        {
            "name": "Analytics",
            "description": "",
            "active": "on",
            "metadata": "{}",
            "prices-TOTAL_FORMS": "1",
            "prices-INITIAL_FORMS": "0",
            "prices-0-nickname": "Monthly",
            "prices-0-unit_amount_0": "12.00",
            "prices-0-unit_amount_1": "EUR",
            "prices-0-interval": "month",
            "prices-0-active": "on",
        },
    )

    assert response.status_code == 302
    price = Price.objects.get(product__name="Analytics")
    assert (price.unit_amount, price.interval) == (Money("12.00", "EUR"), "month")
