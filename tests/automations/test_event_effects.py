"""What each billing event starts, ends and moves (automations.engine.event_effects), and the one
map from an object kind to its billing model (automations.engine.objects)."""

from automations.engine import event_effects
from automations.engine.objects import OBJECT_MODELS
from automations.triggers import TRIGGERS
from billing.models import Invoice, Quote, Subscription


def test_it_maps_each_object_kind_to_its_billing_model():
    assert {"invoice": Invoice, "quote": Quote, "subscription": Subscription} == OBJECT_MODELS


def test_it_knows_a_model_for_the_object_of_every_trigger():
    assert {trigger.object_type for trigger in TRIGGERS.values()} <= set(OBJECT_MODELS)


def test_it_groups_the_triggers_by_the_kind_of_object_their_runs_are_about():
    grouped = event_effects.OBJECT_TRIGGERS
    assert set(grouped) == set(OBJECT_MODELS)
    assert sorted(key for keys in grouped.values() for key in keys) == sorted(TRIGGERS)
