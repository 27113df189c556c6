"""htmx requests that hit the login redirect reload the whole page on the login screen,
instead of swapping the login form into a fragment."""

from django.conf import settings
from django.shortcuts import resolve_url
from django_htmx.http import HttpResponseClientRedirect


class HtmxLoginRedirectMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        is_htmx = getattr(request, "htmx", False)
        if is_htmx and response.status_code == 302 and response.url.startswith(resolve_url(settings.LOGIN_URL)):
            return HttpResponseClientRedirect(response.url)
        return response


class MethodNotAllowedMessageMiddleware:
    """Django answers a wrong method with an empty 405; say in words what the address accepts."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code == 405 and not response.content:
            allowed = response.get("Allow", "")
            response.content = (
                f"This address does not accept {request.method} requests (it accepts: {allowed}). "
                "Use the buttons of the dashboard page instead."
            ).encode()
            response["Content-Type"] = "text/plain; charset=utf-8"
        return response
