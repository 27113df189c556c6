"""GET /health/: for load balancers and monitoring; no login, no secrets, JSON."""

from django.contrib.auth.decorators import login_not_required
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from ops.services import health_report


@login_not_required
@never_cache
@require_safe
def health(request) -> JsonResponse:
    """200 when the database and the broker answer (even if workers lag: "degraded" says so),
    503 when either is down; `?strict=1` also answers 503 for "degraded"."""
    report = health_report()
    down = report["status"] == "down" or (request.GET.get("strict") == "1" and report["status"] != "ok")
    return JsonResponse(report, status=503 if down else 200)
