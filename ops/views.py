"""GET /health/: for load balancers and monitoring; no login, JSON.

Anyone reads the status; the details (database vendor, queue depth, host names) are for a
signed-in staff user or a caller that sends the HEALTH_TOKEN setting."""

import secrets

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from ops.services import health_report


def may_read_details(request: HttpRequest) -> bool:
    """A staff user, or the token as `Authorization: Bearer …` or `?token=…` (compared in constant time)."""
    if request.user.is_authenticated and request.user.is_staff:
        return True
    expected = settings.HEALTH_TOKEN
    if not expected:
        return False
    scheme, _, sent = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        sent = request.GET.get("token", "")
    return secrets.compare_digest(sent.strip().encode(), expected.encode())


@login_not_required
@never_cache
@require_safe
def health(request: HttpRequest) -> JsonResponse:
    """200 when the database and the broker answer (even if workers lag: "degraded" says so),
    503 when either is down; `?strict=1` also answers 503 for "degraded"."""
    report = health_report()
    down = report["status"] == "down" or (request.GET.get("strict") == "1" and report["status"] != "ok")
    body = report if may_read_details(request) else {"status": report["status"]}
    return JsonResponse(body, status=503 if down else 200)
