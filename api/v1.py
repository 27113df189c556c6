"""The Stripe-shaped API at `/v1/`: the ninja instance, its authentication and guards.

Every request under /v1/ (but the docs page and the OpenAPI schema) goes through `guarded`:

1. The key: `Authorization: Bearer <key>` (or HTTP Basic with the key as username, as Stripe
   accepts); an unknown or revoked key answers 401. `request.auth` is the `ApiKey`.
2. A restricted (read-only) key may only read: any other method answers 403.
3. At most `API_RATE_LIMIT` requests a second per key, then 429 (`rate_limit`).
4. The request acts as its key: the changes it makes are audited as the key's.
5. A POST with an `Idempotency-Key` runs once (api/idempotency.py).
6. The endpoint runs; any exception becomes Stripe's error body (api/errors.py), and a ninja
   answer without a body (405) gets one.
"""

import base64
import binascii
import json
import time

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe
from ninja import NinjaAPI
from ninja.openapi.docs import DocsBase
from ninja.security import HttpBearer

from api import errors
from api.errors import INVALID_REQUEST, StripeError
from api.idempotency import idempotent
from api.keys import authenticate
from api.resources import ROUTERS
from audit.context import API_KEY, acting_as

DEFAULT_RATE_LIMIT = 100  # requests a second per key


def bearer(request: HttpRequest) -> str:
    """The key the request presents: Bearer token, or Basic's username."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return ""
        return decoded.partition(":")[0]
    return ""


def _unauthorized(secret: str) -> StripeError:
    if not secret:
        message = (
            "You did not provide an API key. Provide it in the Authorization header, as "
            "'Authorization: Bearer YOUR_SECRET_KEY'. Create one in Settings or with "
            "'manage.py create_api_key --name NAME'."
        )
    else:
        shown = secret[:8] + "*" * 4 + secret[-4:] if len(secret) > 12 else "****"
        message = f"Invalid API Key provided: {shown}"
    return StripeError(401, INVALID_REQUEST, message)


def _rate_limited(api_key) -> bool:
    limit = getattr(settings, "API_RATE_LIMIT", DEFAULT_RATE_LIMIT)
    if not limit:
        return False
    bucket = f"api-rate:{api_key.pk}:{int(time.time())}"
    cache.add(bucket, 0, timeout=2)
    try:
        count = cache.incr(bucket)
    except ValueError:  # expired between add and incr
        cache.add(bucket, 1, timeout=2)
        count = 1
    return count > limit


def _with_body(response: HttpResponse, request: HttpRequest) -> HttpResponse:
    """Ninja's own refusals carry no Stripe body (405): give them one."""
    if response.status_code == 405 and not response.get("Content-Type", "").startswith("application/json"):
        return StripeError(
            405, INVALID_REQUEST, f"Unrecognized request URL ({request.method}: {request.path})."
        ).response()
    return response


def guarded(view):
    """The view behind every endpoint, guarded as the module's docstring says."""

    def wrapper(request: HttpRequest, *args, **kwargs):
        try:
            secret = bearer(request)
            api_key = authenticate(secret)
            if api_key is None:
                raise _unauthorized(secret)
            if api_key.read_only and request.method not in ("GET", "HEAD", "OPTIONS"):
                raise StripeError(
                    403, INVALID_REQUEST,
                    f"The provided key '{api_key.redacted}' is restricted (read only): it cannot "
                    f"{request.method} {request.path}. Use a secret key (sk_…).",
                )  # fmt: skip
            if _rate_limited(api_key):
                raise StripeError(
                    429, INVALID_REQUEST, "Too many requests hit the API too quickly. Retry a little later.",
                    code="rate_limit",
                )  # fmt: skip
            request.auth = api_key
            with acting_as(API_KEY, api_key.public_id, api_key.name):
                return _with_body(idempotent(request, api_key, lambda: view(request, *args, **kwargs)), request)
        except StripeError as error:
            return error.response()

    wrapper.csrf_exempt = True
    return login_not_required(wrapper)


class KeyAuth(HttpBearer):
    """For ninja and the OpenAPI schema: the key `guarded` already checked."""

    def __call__(self, request):
        return getattr(request, "auth", None)

    def authenticate(self, request, token):  # pragma: no cover - __call__ answers
        return getattr(request, "auth", None)


class Docs(DocsBase):
    """A plain page listing the endpoints from the OpenAPI schema (no CDN, no inline script: the
    project's CSP holds)."""

    def render_page(self, request, api, **kwargs):
        schema = api.get_openapi_schema(path_params=kwargs)
        operations = [
            {"method": method.upper(), "path": path, "summary": op.get("summary", ""), "doc": op.get("description", "")}
            for path, methods in schema.get("paths", {}).items()
            for method, op in methods.items()
        ]
        return render(
            request,
            "api/docs.html",
            {"api": api, "operations": operations, "openapi_url": self.get_openapi_url(api, kwargs)},
        )


api = NinjaAPI(
    title="Relance API",
    version="1",
    description="Stripe-shaped: point the official stripe SDK at this server (see the README, “API”).",
    urls_namespace="api_v1",
    auth=KeyAuth(),
    docs=Docs(),
    docs_url="/docs",
    openapi_url="/openapi.json",
)
errors.install(api)
for prefix, router in ROUTERS:
    api.add_router(prefix, router)


def not_found(request, rest=""):
    """Anything else under /v1/: Stripe's answer to an unknown URL (JSON, not the HTML 404 page)."""
    body = {
        "error": {
            "type": INVALID_REQUEST,
            "message": f"Unrecognized request URL ({request.method}: {request.path}).",
        }
    }
    return HttpResponse(json.dumps(body), status=404, content_type="application/json")


not_found.csrf_exempt = True
not_found = login_not_required(not_found)


def urls():
    """The API's URL patterns for config/urls.py (`path("v1/", urls())`): every endpoint guarded."""
    from django.urls import re_path

    patterns, app_name, namespace = api.urls
    for pattern in patterns:
        if pattern.name == "api-root":  # /v1/ itself (ninja reverses it for the schema's paths)
            pattern.callback = not_found
        elif pattern.name in ("openapi-json", "openapi-view"):
            # The schema and the docs page are public, as Stripe's are, and only read.
            pattern.callback = login_not_required(require_safe(pattern.callback))
        else:
            pattern.callback = guarded(pattern.callback)
    return [*patterns, re_path(r"^(?P<rest>.*)$", not_found, name="api-not-found")], app_name, namespace
