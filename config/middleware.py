"""Project-wide request guards and answers: login throttling, the role needed to read, login
redirects for htmx, worded 405s."""

from django.conf import settings
from django.shortcuts import render, resolve_url
from django_htmx.http import HttpResponseClientRedirect

from config.login_throttle import locked_for
from frame.permissions import has_role

LOGIN_VIEWS = {"login", "admin:login"}


class LoginThrottleMiddleware:
    """Refuse (429) a login attempt for a username and address that failed too often lately,
    before the login view checks (and hashes) the password."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.method != "POST" or request.resolver_match.view_name not in LOGIN_VIEWS:
            return None
        seconds = locked_for(request, request.POST.get("username", ""))
        if not seconds:
            return None
        context = {"limit": settings.LOGIN_FAILURE_LIMIT, "minutes": settings.LOGIN_LOCKOUT_SECONDS // 60}
        response = render(request, "registration/locked_out.html", context, status=429)
        response["Retry-After"] = str(seconds)
        return response


class RoleRequiredMiddleware:
    """Every dashboard page needs a role (editor, viewer or superuser), on top of the login that
    LoginRequiredMiddleware asks for. Pages open to anyone (login, health), logout and the Django
    admin (it checks staff itself) are left alone."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        match = request.resolver_match
        if (
            not request.user.is_authenticated
            or not getattr(view_func, "login_required", True)
            or "admin" in match.namespaces
            or match.view_name == "logout"
            or has_role(request.user)
        ):
            return None
        return render(request, "403.html", {"no_role": True}, status=403)


class HtmxLoginRedirectMiddleware:
    """htmx requests that hit the login redirect reload the whole page on the login screen,
    instead of swapping the login form into a fragment."""

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
