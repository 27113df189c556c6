"""Account facts the engine needs from billing."""

from billing.models import AccountSettings


def default_currency() -> str:
    return AccountSettings.load().default_currency


def team_email_domains() -> list[str]:
    return [d.lower() for d in AccountSettings.load().team_email_domains]
