"""Settings → Email log: every message the app sent or tried to send. Everyone may look; editors may
send a failed message again."""

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.csp import CSP
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.csp import csp_override
from django.views.decorators.http import require_POST, require_safe

from frame.htmx import HtmxHttpRequest
from frame.lists import ListPage, render_list
from frame.permissions import editor_required
from notifications import email as outbound
from notifications import selectors
from notifications.forms import EmailFilterForm
from notifications.models import EmailStatus, OutboundEmail

EMAILS = ListPage("notifications/email_list.html", EmailFilterForm, selectors.email_list)


@require_safe
def email_list(request: HtmxHttpRequest) -> HttpResponse:
    return render_list(request, EMAILS)


@require_safe
def email_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    email = get_object_or_404(OutboundEmail, public_id=public_id)
    return render(request, "notifications/email_detail.html", {"email": email})


@require_safe
@xframe_options_sameorigin
@csp_override(
    {
        "default-src": [CSP.NONE],
        "style-src": [CSP.UNSAFE_INLINE],  # emails style inline, for mail clients
        "img-src": ["data:"],
        "frame-ancestors": [CSP.SELF],
        "sandbox": True,
    }
)
def email_html(request: HttpRequest, public_id: str) -> HttpResponse:
    """The HTML version of an email, framed by its detail page: on its own address so that it has its
    own policy (a srcdoc frame would inherit the dashboard's, which refuses the email's inline styles)."""
    email = get_object_or_404(OutboundEmail, public_id=public_id)
    if not email.html_body:
        raise Http404("This email has no HTML version.")
    return HttpResponse(email.html_body)


@editor_required
@require_POST
def email_resend(request: HttpRequest, public_id: str) -> HttpResponse:
    """Queue a failed message again. A sent or still queued one is left alone: nobody gets it twice."""
    email = get_object_or_404(OutboundEmail, public_id=public_id)
    if email.status != EmailStatus.FAILED:
        messages.warning(
            request, f"This message is {email.get_status_display().lower()}: only a failed one is sent again."
        )
    else:
        outbound.resend(email)
        messages.success(request, "The message is queued to be sent again.")
    return redirect("notifications:email_detail", email.public_id)
