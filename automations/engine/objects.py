"""The billing objects runs are about, by kind (an event's or a run's `object_type`)."""

from billing.models import Invoice, Quote, Subscription

OBJECT_MODELS = {"invoice": Invoice, "quote": Quote, "subscription": Subscription}
