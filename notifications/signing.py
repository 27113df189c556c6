"""Webhook signing secrets and the `Stripe-Signature` header, as Stripe's SDK verifies them."""

import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: str) -> str:
    """Hex HMAC-SHA256 of "<timestamp>.<body>" keyed with the whole `whsec_…` secret."""
    message = f"{timestamp}.{body}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secrets_in_use: list[str], timestamp: int, body: str) -> str:
    """`t=<timestamp>,v1=<sig>[,v1=<sig>…]`: one v1 per secret (two while a rolled secret lingers)."""
    parts = [f"t={timestamp}"] + [f"v1={signature(secret, timestamp, body)}" for secret in secrets_in_use]
    return ",".join(parts)
