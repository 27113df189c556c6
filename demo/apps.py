from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Demo data for a local Relance (`manage.py seed_demo`): the top layer, it may use every app."""

    name = "demo"
    verbose_name = "Demo data"
