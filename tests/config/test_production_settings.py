"""Production settings from the environment: payment gateway, TLS, cookies, HSTS, a shared Redis."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEST_GATEWAY = "billing.payments.test_gateway.TestGateway"
_DROPPED = {
    "DEBUG", "SECRET_KEY", "DATABASE_URL", "REDIS_URL", "RELANCE_BASE_URL", "PAYMENT_GATEWAY", "ALLOWED_HOSTS",
    "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD", "Q_CLUSTER_NAME", "CACHE_KEY_PREFIX", "HEALTH_PROBE_HOSTS",
}  # fmt: skip


def _production_env(**env: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in _DROPPED}
    production = {
        "DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "0", "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "relance.example.com", "PAYMENT_GATEWAY": TEST_GATEWAY,
    }  # fmt: skip
    return {**base, **production, **env}


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=_production_env(**env), capture_output=True, text=True, timeout=120
    )


def _settings(code: str, **env: str) -> dict:
    """Evaluates `code` (an expression over `settings`) in a process with production settings."""
    result = _run(
        ["-c", f"import django, json; from django.conf import settings; django.setup(); print(json.dumps({code}))"],
        **env,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_it_refuses_to_start_with_debug_off_and_no_payment_gateway_chosen():
    env = _production_env()
    del env["PAYMENT_GATEWAY"]
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "PAYMENT_GATEWAY is required when DEBUG is off" in result.stderr
    assert f"PAYMENT_GATEWAY={TEST_GATEWAY}" in result.stderr


def test_an_explicit_payment_gateway_is_used_with_debug_off():
    assert _settings("settings.PAYMENT_GATEWAY") == TEST_GATEWAY


def test_under_debug_the_test_gateway_is_the_default():
    assert _settings("settings.PAYMENT_GATEWAY", DEBUG="1", PAYMENT_GATEWAY="") == TEST_GATEWAY


SECURITY = (
    "{k: getattr(settings, k) for k in ['SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE', 'SECURE_SSL_REDIRECT', "
    "'SECURE_HSTS_SECONDS', 'SECURE_HSTS_INCLUDE_SUBDOMAINS', 'SECURE_HSTS_PRELOAD']}"
)


def test_with_debug_off_it_forces_https_and_secure_cookies_and_hsts_preload_is_not_forced():
    assert _settings(SECURITY) == {
        "SESSION_COOKIE_SECURE": True, "CSRF_COOKIE_SECURE": True, "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31536000, "SECURE_HSTS_INCLUDE_SUBDOMAINS": True, "SECURE_HSTS_PRELOAD": False,
    }  # fmt: skip


def test_secure_cookies_and_hsts_come_from_the_environment():
    env = {
        "SESSION_COOKIE_SECURE": "0", "CSRF_COOKIE_SECURE": "0", "SECURE_HSTS_SECONDS": "600",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": "0", "SECURE_HSTS_PRELOAD": "1",
    }  # fmt: skip
    assert _settings(SECURITY, **env) == {
        "SESSION_COOKIE_SECURE": False, "CSRF_COOKIE_SECURE": False, "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 600, "SECURE_HSTS_INCLUDE_SUBDOMAINS": False, "SECURE_HSTS_PRELOAD": True,
    }  # fmt: skip


def test_the_deploy_checks_pass_with_hsts_preload_opted_in():
    result = _run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        SECURE_HSTS_PRELOAD="1", REDIS_URL="redis://127.0.0.1:6379/0", RELANCE_BASE_URL="https://relance.example.com",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_the_deploy_checks_still_warn_when_hsts_is_turned_off():
    result = _run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        SECURE_HSTS_SECONDS="0", REDIS_URL="redis://127.0.0.1:6379/0", RELANCE_BASE_URL="https://relance.example.com",
    )  # fmt: skip
    assert result.returncode != 0
    assert "security.W004" in result.stderr


QUEUE_AND_CACHE = (
    "(lambda b, c: {'cluster': settings.Q_CLUSTER['name'], 'queue': b.list_key, 'cache_key': c.make_key('k')})"
    "(__import__('django_q.brokers', fromlist=['x']).get_broker(), __import__('django.core.cache', fromlist=['x']).cache)"
)


def test_two_installs_sharing_one_redis_use_their_own_queue_and_cache_keys():
    shared = {"REDIS_URL": "redis://127.0.0.1:6379/9"}
    first = _settings(QUEUE_AND_CACHE, **shared, Q_CLUSTER_NAME="acme", CACHE_KEY_PREFIX="acme")
    second = _settings(QUEUE_AND_CACHE, **shared, Q_CLUSTER_NAME="globex", CACHE_KEY_PREFIX="globex")
    assert first == {"cluster": "acme", "queue": "django_q:acme:q", "cache_key": "acme:1:k"}
    assert second == {"cluster": "globex", "queue": "django_q:globex:q", "cache_key": "globex:1:k"}


def test_the_queue_name_and_cache_key_prefix_default_to_relance():
    assert _settings(QUEUE_AND_CACHE, REDIS_URL="redis://127.0.0.1:6379/9") == {
        "cluster": "relance", "queue": "django_q:relance:q", "cache_key": "relance:1:k",
    }  # fmt: skip
