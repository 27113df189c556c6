"""The action registry: one module per action (see base.py for what an action is)."""

from automations.engine.actions.base import Action

ACTIONS: dict[str, Action] = {}


def register(action_class: type[Action]) -> type[Action]:
    ACTIONS[action_class.key] = action_class()
    return action_class
