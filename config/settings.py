"""Relance settings: one module, read from the environment.

Defaults suit `make run` (DEBUG, SQLite, django-q2's ORM broker, console email).
Production sets DEBUG=0, SECRET_KEY, ALLOWED_HOSTS, PAYMENT_GATEWAY, DATABASE_URL and usually REDIS_URL.
"""

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from config.env import env_bool, env_int, env_list, env_str
from config.logging import django_logging

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)

_DEV_SECRET_KEY = "django-insecure-relance-local-development-only-0123456789abcdefghij"
# Values copied from examples (Django's startproject prefix, the README's `SECRET_KEY=…`).
_PLACEHOLDER_SECRET_KEYS = {_DEV_SECRET_KEY, "…", "...", "changeme", "change-me", "secret", "secret-key"}
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY is required when DEBUG is off (set DEBUG=1 for local development).")
    SECRET_KEY = _DEV_SECRET_KEY
elif not DEBUG:
    _generate = 'generate one with: python -c "import secrets; print(secrets.token_urlsafe(50))"'
    if SECRET_KEY.strip().lower() in _PLACEHOLDER_SECRET_KEYS or SECRET_KEY.startswith("django-insecure-"):
        raise ImproperlyConfigured(f"SECRET_KEY is a placeholder from an example, not a secret: {_generate}")
    if len(SECRET_KEY) < 50:
        raise ImproperlyConfigured(f"SECRET_KEY is too short ({len(SECRET_KEY)} characters, at least 50): {_generate}")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
# The Host names a load balancer's or a monitor's probe of /health/ sends (the machine's internal
# address): accepted beside ALLOWED_HOSTS. Over plain HTTP only /health/ answers (the rest redirects).
HEALTH_PROBE_HOSTS = env_list("HEALTH_PROBE_HOSTS", ["localhost", "127.0.0.1"])
ALLOWED_HOSTS += [host for host in HEALTH_PROBE_HOSTS if host not in ALLOWED_HOSTS]
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_q",
    "djmoney",
    "djmoney.contrib.exchange",
    "audit",
    "billing",
    "notifications",
    "automations",
    "api",
    "ops",
    "demo",
    "config",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "audit.middleware.ActorMiddleware",
    "config.middleware.RoleRequiredMiddleware",
    "config.middleware.LoginThrottleMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "config.middleware.HtmxLoginRedirectMiddleware",
    "config.middleware.MethodNotAllowedMessageMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "frame.context_processors.roles",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
SQLITE_PATH = BASE_DIR / env_str("SQLITE_PATH", "db.sqlite3")
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    # Persistent connections are checked before their first use in each request or task: after a
    # database restart, a process would otherwise fail once on the connection it kept.
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL, conn_max_age=env_int("CONN_MAX_AGE", 60), conn_health_checks=True
        )
    }
else:
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": SQLITE_PATH}}

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web and worker share one SQLite file: WAL lets readers run beside a writer, the busy
    # timeout waits for the lock, IMMEDIATE takes the write lock up front (no upgrade deadlock).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache ----------------------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Several installs may share one Redis: each gives its cache keys (and its queue, below) its own name.
CACHES["default"]["KEY_PREFIX"] = env_str("CACHE_KEY_PREFIX", "relance")

# --- django-q2 ------------------------------------------------------------------------------
Q_CLUSTER = {
    "name": env_str("Q_CLUSTER_NAME", "relance"),  # the Redis queue is django_q:<name>:q
    "workers": env_int("Q_WORKERS", 2),
    "timeout": 60,
    "retry": 90,  # > timeout: a task is handed out again only when its worker is gone
    "max_attempts": 5,
    "catch_up": False,  # periodic jobs pick up everything due anyway; no replay burst
    "ack_failures": True,
    # Successes are not kept (failures are): with a save limit, django-q2's monitor locks every
    # kept success row to prune one, per task: that capped the cluster at ~40 tasks/s (bench).
    # The engine's own tables (steps, handled events) are the record of what was done.
    "save_limit": env_int("Q_SAVE_LIMIT", -1),
    "bulk": env_int("Q_BULK", 5),  # tasks taken from the broker per query
    "label": "Tasks",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
    Q_CLUSTER["broker_class"] = "ops.brokers.SteadyRedis"
else:
    Q_CLUSTER["orm"] = "default"
    Q_CLUSTER["poll"] = 0.2  # seconds between broker polls when the queue is empty
    Q_CLUSTER["broker_class"] = "ops.brokers.SteadyORM"
# django-q2's own brokers, but the cluster's pusher and monitor wait a database or Redis restart
# out (one line per outage) instead of dying and being restarted with a traceback each time.

# --- Auth -----------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Login throttling (config/login_throttle.py): this many failed logins for one username from one
# address within LOGIN_LOCKOUT_SECONDS lock that pair out for LOGIN_LOCKOUT_SECONDS.
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
LOGIN_LOCKOUT_SECONDS = env_int("LOGIN_LOCKOUT_MINUTES", 15) * 60
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
# The API (/v1/): at most this many requests a second per key, then 429 rate_limit (0: no limit).
API_RATE_LIMIT = env_int("API_RATE_LIMIT", 100)

# --- i18n / time ----------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
# The languages customers read (their emails and the payment page; billing.branding): the
# dashboard itself stays in English. The catalogs are compiled by `make setup` (compilemessages).
LANGUAGES = [("en", "English"), ("fr", "Français")]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_TZ = True

# --- Static ---------------------------------------------------------------------------------
STATIC_URL = "static/"
# `manage.py collectstatic` writes here once per release; the web process serves it (WhiteNoise).
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
# SortableJS comes from npm (`make` runs `npm ci`): only its distributed file, never committed.
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "config.static_finders.NpmDistFinder",
]
# With DEBUG off, pages link to hashed names (a far-future cache is safe) and WhiteNoise serves
# their gzip variants; with DEBUG on, files come straight from their sources, no collectstatic.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
# WhiteNoise would take these from DEBUG when its middleware is built, after the test runner has
# turned DEBUG off; fixed here, a DEBUG run and the tests find files through the finders and need no
# collected STATIC_ROOT (which WhiteNoise warned about on every request handler built).
WHITENOISE_AUTOREFRESH = WHITENOISE_USE_FINDERS = DEBUG

# --- Email ---------------------------------------------------------------------------------
# Django 6.1 mailers. EMAIL_BACKEND (the environment variable) picks the backend: SMTP in
# production, the console locally; EMAIL_HOST etc. configure SMTP.
_email_backend = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend",
)
_email_options: dict = {}
if _email_backend.endswith("smtp.EmailBackend"):
    _email_options = {
        "host": env_str("EMAIL_HOST", "localhost"),
        "port": env_int("EMAIL_PORT", 25),
        "username": env_str("EMAIL_HOST_USER"),
        "password": env_str("EMAIL_HOST_PASSWORD"),
        "use_tls": env_bool("EMAIL_USE_TLS", False),
        "use_ssl": env_bool("EMAIL_USE_SSL", False),
        "timeout": env_int("EMAIL_TIMEOUT", 10),
    }
elif _email_backend.endswith("filebased.EmailBackend"):
    _email_options = {"file_path": env_str("EMAIL_FILE_PATH", str(BASE_DIR / "var" / "mail"))}
MAILERS = {"default": {"BACKEND": _email_backend, "OPTIONS": _email_options}}
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Relance <billing@relance.localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Money ----------------------------------------------------------------------------------
DEFAULT_CURRENCY = env_str("DEFAULT_CURRENCY", "EUR").upper()
CURRENCIES = ("EUR", "USD", "GBP", "CHF", "CAD", "JPY")
if DEFAULT_CURRENCY not in CURRENCIES:
    raise ImproperlyConfigured(f"DEFAULT_CURRENCY must be one of {', '.join(CURRENCIES)}, got {DEFAULT_CURRENCY!r}")
BASE_CURRENCY = DEFAULT_CURRENCY
EXCHANGE_BACKEND = "billing.exchange.FixedRatesBackend"

# --- Billing --------------------------------------------------------------------------------
# There is no real gateway yet; production must still name the test one explicitly, so that a
# deploy never takes test cards by accident.
_TEST_GATEWAY = "billing.payments.test_gateway.TestGateway"
PAYMENT_GATEWAY = env_str("PAYMENT_GATEWAY").strip() or (_TEST_GATEWAY if DEBUG else "")
if not PAYMENT_GATEWAY:
    raise ImproperlyConfigured(
        f"PAYMENT_GATEWAY is required when DEBUG is off: set PAYMENT_GATEWAY={_TEST_GATEWAY} "
        "to run with the test gateway's cards (it is the only gateway today)."
    )
BILLING_JOB_BATCH_SIZE = env_int("BILLING_JOB_BATCH_SIZE", 200)

# --- Links --------------------------------------------------------------------------------
# Where the dashboard is reached from outside: links in emails start with it. Unset with DEBUG
# off, links are relative and `check --deploy` warns (relance.W001).
RELANCE_BASE_URL = env_str("RELANCE_BASE_URL").strip().rstrip("/") or ("http://127.0.0.1:8000" if DEBUG else "")
if RELANCE_BASE_URL and not RELANCE_BASE_URL.startswith(("http://", "https://")):
    raise ImproperlyConfigured(f"RELANCE_BASE_URL must start with http:// or https://, got {RELANCE_BASE_URL!r}")

# --- Health -------------------------------------------------------------------------------
# /health/ tells anyone its status; the details need a staff login or this token
# (`Authorization: Bearer …` or `?token=…`). Empty: no token opens them.
HEALTH_TOKEN = env_str("HEALTH_TOKEN")

# --- Automations ----------------------------------------------------------------------------
# How long a worker holds a claimed step before another may take it over (it died).
AUTOMATION_STEP_LEASE_SECONDS = env_int("AUTOMATION_STEP_LEASE_SECONDS", 300)

# --- Webhooks -------------------------------------------------------------------------------
# Hosts, addresses or networks that webhook endpoints may use even though they are not public
# (e.g. "127.0.0.1,localhost,10.0.0.0/8"); plain http is accepted only for these.
WEBHOOK_ALLOWED_HOSTS = env_list("WEBHOOK_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "::1"] if DEBUG else [])
WEBHOOK_TIMEOUT_SECONDS = 10
# A CA bundle (PEM file) to verify endpoint certificates with, instead of the system's.
WEBHOOK_CA_BUNDLE = env_str("WEBHOOK_CA_BUNDLE")

# --- Security (effective when DEBUG is off) -------------------------------------------------
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
# A load balancer probes over plain HTTP: /health/ answers it instead of redirecting to https.
SECURE_REDIRECT_EXEMPT = [r"^health/$"]
# Behind a proxy (that ends TLS), the client's address is the last one it added to X-Forwarded-For.
BEHIND_PROXY = env_bool("BEHIND_PROXY", False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_PROXY else None
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
# Preloading puts the domain into browsers' built-in HTTPS-only lists, which takes months to undo:
# an operator's decision, so it is opt-in and its deploy-check reminder (W021) is silenced.
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Scripts and styles from our own origin only: our templates have no inline script or style. The
# nonce is for the Django admin's few inline tags; a page that uses none gets no nonce at all.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF, "data:"],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}

# Time, level and logger name on every line (LOG_LEVEL); LOG_FORMAT=json for one JSON object a line.
LOGGING = django_logging()
