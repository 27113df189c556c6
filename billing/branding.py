"""What customers see of the business: its name, support address, logo and accent colour (the
account settings' Branding section), and the language each customer reads.

Every customer-facing email and the hosted payment page take `branding()` in their context and
render inside `translation.override(customer_language(customer))`.
"""

from dataclasses import dataclass
from email.utils import parseaddr

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
