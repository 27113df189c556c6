from django.apps import AppConfig


class AutomationsConfig(AppConfig):
    name = "automations"
    verbose_name = "Automations"

    def ready(self) -> None:
        from automations import receivers  # noqa: F401  (billing events → the engine)
        from automations.selectors import retry_policy_references
        from automations.views.object_panels import object_panel
        from billing.services.retry_policies import register_policy_references
        from billing.views.common import register_detail_panel

        # Billing detail pages show the runs on the object and each event's matching record.
        register_detail_panel(object_panel)
        # A retry policy that automations start by name is in use: billing refuses to delete it.
        register_policy_references(retry_policy_references)
