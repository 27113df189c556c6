"""Relance's own `manage.py check --deploy` warnings: settings a production install needs."""

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def check_base_url(app_configs, **kwargs) -> list[Warning]:
    if settings.DEBUG or settings.RELANCE_BASE_URL:
        return []
    return [
        Warning(
            "RELANCE_BASE_URL is not set: links in emails are relative and do not open from a mail client.",
            hint="Set RELANCE_BASE_URL to the dashboard's public address, e.g. https://relance.example.com.",
            id="relance.W001",
        )
    ]


@register(Tags.security, deploy=True)
def check_shared_cache(app_configs, **kwargs) -> list[Warning]:
    backend = settings.CACHES["default"]["BACKEND"]
    if settings.DEBUG or not backend.endswith("LocMemCache"):
        return []
    return [
        Warning(
            "The cache is each process's own memory: login throttling counts failed logins per web process, "
            "so several processes allow several times LOGIN_FAILURE_LIMIT attempts.",
            hint="Set REDIS_URL (Redis becomes the shared cache), or silence relance.W002 if one process serves the web.",
            id="relance.W002",
        )
    ]
