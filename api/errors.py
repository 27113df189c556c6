"""Stripe's error bodies and statuses, so that the SDK raises its own classes.

`StripeError` raised anywhere in an endpoint becomes `{"error": {"type", "code", "message", "param"}}`
with its status. The helpers raise (write `raise invalid(...)` or just `invalid(...)`: both raise):

    invalid("Missing required param: email.", param="email")   # 400 invalid_request_error
    missing("customer", "cus_x")                                # 404 resource_missing
    conflict("…")                                               # 409

The SDK picks its class from the status: 400/404 InvalidRequestError (IdempotencyError when the type
is idempotency_error), 401 AuthenticationError, 402 CardError, 403 PermissionError, 429
RateLimitError, anything else APIError (409 included, which it retries when max_network_retries > 0).
"""

import json
import logging
from typing import NoReturn

from django.http import HttpResponse

logger = logging.getLogger(__name__)

INVALID_REQUEST = "invalid_request_error"


class StripeError(Exception):
    def __init__(
        self,
        status: int,
        type: str,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        decline_code: str | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.type = type
        self.message = message
        self.code = code
        self.param = param
        self.decline_code = decline_code

    def body(self) -> dict:
        error = {"type": self.type, "message": self.message}
        if self.code:
            error["code"] = self.code
        if self.param:
            error["param"] = self.param
        if self.decline_code:
            error["decline_code"] = self.decline_code
        return {"error": error}

    def response(self) -> HttpResponse:
        response = HttpResponse(json.dumps(self.body()), status=self.status, content_type="application/json")
        if self.status == 429:
            response["Retry-After"] = "1"  # the limit is per second
        return response


def invalid(message: str, param: str | None = None) -> NoReturn:
    """400 invalid_request_error (raises)."""
    raise StripeError(400, INVALID_REQUEST, message, param=param)


def missing(resource: str, id: str, param: str | None = "id") -> NoReturn:
    """404 resource_missing: "No such customer: 'cus_x'" (raises)."""
    raise StripeError(404, INVALID_REQUEST, f"No such {resource}: '{id}'", code="resource_missing", param=param)


def conflict(message: str) -> NoReturn:
    """409 (raises)."""
    raise StripeError(409, INVALID_REQUEST, message)


def card_declined(message: str, *, decline_code: str = "generic_decline", param: str | None = None) -> NoReturn:
    """402 card_error, code card_declined (raises)."""
    raise StripeError(402, "card_error", message, code="card_declined", decline_code=decline_code, param=param)


def validation_param(loc) -> str | None:
    """Stripe's param name (`items[0][price]`) for a pydantic/ninja error location."""
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "form", "payload", "header")]
    if not parts:
        return None
    return parts[0] + "".join(f"[{p}]" for p in parts[1:])


def install(api) -> None:
    """Turn every exception an endpoint can raise into a Stripe error body on `api`."""
    from ninja.errors import AuthenticationError, HttpError
    from ninja.errors import ValidationError as NinjaValidationError

    from billing.errors import DomainError

    @api.exception_handler(StripeError)
    def stripe_error(request, exc: StripeError):
        return exc.response()

    @api.exception_handler(DomainError)
    def domain_error(request, exc: DomainError):
        return StripeError(400, INVALID_REQUEST, exc.message).response()

    @api.exception_handler(NinjaValidationError)
    def validation_error(request, exc: NinjaValidationError):
        first = exc.errors[0] if exc.errors else {}
        param = validation_param(first.get("loc", ()))
        message = first.get("msg", "Invalid request.")
        if param:
            message = f"Invalid {param}: {message}"
        return StripeError(400, INVALID_REQUEST, message, param=param).response()

    @api.exception_handler(AuthenticationError)
    def authentication_error(request, exc):
        return StripeError(401, INVALID_REQUEST, "Invalid API Key provided.").response()

    @api.exception_handler(HttpError)
    def http_error(request, exc: HttpError):
        return StripeError(exc.status_code, INVALID_REQUEST, str(exc)).response()

    from django.http import Http404

    @api.exception_handler(Http404)
    def not_found(request, exc):
        return StripeError(404, INVALID_REQUEST, str(exc) or "Not found.", code="resource_missing").response()

    @api.exception_handler(Exception)
    def unexpected(request, exc):
        logger.exception("API error on %s %s", request.method, request.path)
        return StripeError(500, "api_error", "An unexpected error occurred on our side.").response()
