"""What customers see of the business: its name, support address, logo and accent colour (the
account settings' Branding section), and the language each customer reads.

Every customer-facing email and the hosted payment page take `branding()` in their context and
render inside `translation.override(customer_language(customer))`.

The accent colour under our strict CSP: emails carry it in inline styles (mail clients do not
apply our CSP); the payment page sets it in a `<style nonce="{{ csp_nonce }}">` (a custom
property the stylesheet reads), never in a style attribute. The logo is an image on another
host: `allow_logo` lets the payment page's CSP load it from that one origin.
"""

from dataclasses import dataclass
from email.utils import parseaddr
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import get_supported_language_variant

from billing.models import AccountSettings, Customer
from billing.models.account import DEFAULT_ACCENT_COLOR


@dataclass(frozen=True)
class Branding:
    name: str
    support_email: str
    logo_url: str
    accent_color: str


def _sender() -> tuple[str, str]:
    """The display name and address of DEFAULT_FROM_EMAIL, e.g. ("Relance", "billing@…")."""
    return parseaddr(settings.DEFAULT_FROM_EMAIL)


def branding(account: AccountSettings | None = None) -> Branding:
    """The account's branding. A blank name or support address falls back to the sender of the
    emails (DEFAULT_FROM_EMAIL's name and address), so a message always says whose it is and
    where to write."""
    account = account or AccountSettings.load()
    sender_name, sender_address = _sender()
    return Branding(
        name=account.business_name or sender_name or sender_address,
        support_email=account.support_email or sender_address,
        logo_url=account.logo_url,
        accent_color=account.accent_color or DEFAULT_ACCENT_COLOR,
    )


def default_language() -> str:
    """The account's language: LANGUAGE_CODE's, among LANGUAGES ("en-us" → "en")."""
    return get_supported_language_variant(settings.LANGUAGE_CODE).split("-")[0]


def customer_language(customer: Customer) -> str:
    """The language of the customer's emails and payment page: their preferred locale, or the
    account's ("en" or "fr")."""
    supported = {code for code, _ in settings.LANGUAGES}
    locale = customer.preferred_locale
    return locale if locale in supported else default_language()


def allow_logo(response, brand: Branding):
    """Let the response's page show the logo: SECURE_CSP with the logo's origin added to
    img-src (Django's csp_override sets the same attribute, for a fixed policy)."""
    if origin := logo_origin(brand):
        config = dict(settings.SECURE_CSP)
        config["img-src"] = [*config.get("img-src", []), origin]
        response._csp_config = config
    return response


def logo_origin(brand: Branding) -> str:
    """`https://host[:port]` of the logo (no user or path: a CSP source names an origin)."""
    if not brand.logo_url:
        return ""
    parts = urlsplit(brand.logo_url)
    host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname
    return f"https://{host}:{parts.port}" if parts.port else f"https://{host}"
