"""Settings come from the environment and production settings pass Django's deploy checks."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEST_GATEWAY = "billing.payments.test_gateway.TestGateway"


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    dropped = {"DEBUG", "SECRET_KEY", "DATABASE_URL", "REDIS_URL", "RELANCE_BASE_URL", "PAYMENT_GATEWAY"}
    base = {k: v for k, v in os.environ.items() if k not in dropped}
    base["DJANGO_SETTINGS_MODULE"] = "config.settings"
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=120
    )


def test_production_settings_pass_the_deploy_checks():
    result = _manage(
        "check", "--deploy", "--fail-level", "WARNING",
        SECRET_KEY=secrets.token_urlsafe(50), ALLOWED_HOSTS="relance.example.com", PAYMENT_GATEWAY=TEST_GATEWAY,
        DATABASE_URL="postgres://relance@127.0.0.1:5432/relance", REDIS_URL="redis://127.0.0.1:6379/0",
        RELANCE_BASE_URL="https://relance.example.com",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_a_missing_secret_key_with_debug_off_stops_with_a_clear_message():
    result = _manage("check")
    assert result.returncode != 0
    assert "SECRET_KEY is required when DEBUG is off" in result.stderr


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DEBUG", "maybe", "DEBUG must be a boolean"),
        ("EMAIL_PORT", "smtp", "EMAIL_PORT must be an integer"),
        ("DEFAULT_CURRENCY", "XYZ", "DEFAULT_CURRENCY must be one of"),
    ],
)
def test_a_bad_environment_value_fails_loudly(name, value, message):
    env = {"DEBUG": "1", "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend", name: value}
    result = _manage("check", **env)
    assert result.returncode != 0
    assert message in result.stderr


def _settings_with(**env: str) -> str:
    code = (
        "import django, json; from django.conf import settings; django.setup(); "
        "print(json.dumps({'engine': settings.DATABASES['default']['ENGINE'], "
        "'options': settings.DATABASES['default'].get('OPTIONS', {}), 'q': settings.Q_CLUSTER, "
        "'mailer': settings.MAILERS['default']['BACKEND'], 'currency': settings.DEFAULT_CURRENCY, "
        "'base_url': settings.RELANCE_BASE_URL}, default=str))"
    )
    base = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "RELANCE_BASE_URL"}}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**base, "DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "1", **env},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_default_database_is_sqlite_set_up_for_a_web_server_and_a_worker_side_by_side():

    config = json.loads(_settings_with())
    assert config["engine"] == "django.db.backends.sqlite3"
    assert config["options"]["transaction_mode"] == "IMMEDIATE"
    assert config["options"]["timeout"] >= 10
    assert "journal_mode=WAL" in config["options"]["init_command"]
    assert config["q"]["orm"] == "default" and "redis" not in config["q"]
    assert config["q"]["timeout"] < config["q"]["retry"]


def test_database_url_and_redis_url_switch_to_postgresql_and_the_redis_broker():

    config = json.loads(
        _settings_with(DATABASE_URL="postgres://u@db.example:5432/relance", REDIS_URL="redis://cache.example:6379/1")
    )
    assert config["engine"] == "django.db.backends.postgresql"
    assert config["q"]["redis"] == "redis://cache.example:6379/1" and "orm" not in config["q"]


def test_email_and_currency_come_from_the_environment():

    config = json.loads(
        _settings_with(EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend", DEFAULT_CURRENCY="usd")
    )
    assert config["mailer"] == "django.core.mail.backends.smtp.EmailBackend"
    assert config["currency"] == "USD"


DEV_KEY = "django-insecure-relance-local-development-only-0123456789abcdefghij"


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("k3y-" + "x" * 30, "SECRET_KEY is too short"),
        ("django-insecure-" + secrets.token_urlsafe(50), "SECRET_KEY is a placeholder"),
        (DEV_KEY, "SECRET_KEY is a placeholder"),
        ("changeme", "SECRET_KEY is a placeholder"),
        ("…", "SECRET_KEY is a placeholder"),
    ],
    ids=["short", "django-insecure", "dev-default", "changeme", "readme-ellipsis"],
)
def test_a_weak_secret_key_with_debug_off_stops_startup_with_a_clear_message(key, message):
    result = _manage("check", SECRET_KEY=key, ALLOWED_HOSTS="relance.example.com")
    assert result.returncode != 0
    assert message in result.stderr
    assert key not in result.stderr  # the message never repeats the key itself


def test_a_short_secret_key_is_accepted_under_debug():
    result = _manage("check", DEBUG="1", SECRET_KEY="short-dev-key")
    assert result.returncode == 0, result.stderr


def test_the_base_url_of_links_in_emails_comes_from_the_environment():
    config = json.loads(_settings_with(RELANCE_BASE_URL="https://relance.acme.example/"))
    assert config["base_url"] == "https://relance.acme.example"


def test_under_debug_the_base_url_defaults_to_the_local_server():
    assert json.loads(_settings_with())["base_url"] == "http://127.0.0.1:8000"


def test_a_base_url_without_a_scheme_fails_loudly():
    result = _manage("check", DEBUG="1", RELANCE_BASE_URL="relance.acme.example")
    assert result.returncode != 0
    assert "RELANCE_BASE_URL must start with http:// or https://" in result.stderr


def test_the_deploy_check_warns_when_the_base_url_is_unset_with_debug_off():
    result = _manage(
        "check", "--deploy", "--fail-level", "WARNING",
        SECRET_KEY=secrets.token_urlsafe(50), ALLOWED_HOSTS="relance.example.com", PAYMENT_GATEWAY=TEST_GATEWAY, RELANCE_BASE_URL="",
    )  # fmt: skip
    assert result.returncode != 0
    assert "relance.W001" in result.stderr
    assert "RELANCE_BASE_URL is not set" in result.stderr


def test_the_deploy_check_warns_when_login_throttling_counts_in_each_process_memory():
    result = _manage(
        "check", "--deploy", "--fail-level", "WARNING",
        SECRET_KEY=secrets.token_urlsafe(50), ALLOWED_HOSTS="relance.example.com", PAYMENT_GATEWAY=TEST_GATEWAY,
        RELANCE_BASE_URL="https://relance.example.com",
    )  # fmt: skip
    assert result.returncode != 0
    assert "relance.W002" in result.stderr
    assert "REDIS_URL" in result.stderr
