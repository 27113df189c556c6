"""With DEBUG off the app serves its own static files (WhiteNoise) and answers health probes over plain HTTP."""

import json
import os
import re
import secrets
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_DROPPED = {"DEBUG", "DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS", "HEALTH_PROBE_HOSTS", "STATIC_ROOT", "SQLITE_PATH"}


@pytest.fixture(scope="module")
def production(tmp_path_factory) -> dict[str, str]:
    """The environment of an install with DEBUG off, its static files collected and its database migrated."""
    tmp = tmp_path_factory.mktemp("production")
    env = {k: v for k, v in os.environ.items() if k not in _DROPPED} | {
        "DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "0", "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "relance.example.com", "PAYMENT_GATEWAY": "billing.payments.test_gateway.TestGateway",
        "RELANCE_BASE_URL": "https://relance.example.com",
        "STATIC_ROOT": str(tmp / "static"), "SQLITE_PATH": str(tmp / "db.sqlite3"),
    }  # fmt: skip
    # As the README does it: `make static` needs no secret, then migrate with the real environment.
    build_env = {k: v for k, v in env.items() if k not in {"SECRET_KEY", "PAYMENT_GATEWAY"}}
    for command, command_env in (
        (["make", "static", f"PY={sys.executable}"], build_env),
        ([sys.executable, "manage.py", "migrate", "--noinput"], env),
    ):
        result = subprocess.run(command, cwd=ROOT, env=command_env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
    return env


def _requests(env: dict[str, str], code: str, **extra: str) -> dict:
    """Runs `code` with a Django test `client` in a process with `env`; `code` assigns `result`."""
    script = (
        "import django, json; django.setup()\n"
        "from django.test import Client\n"
        "client = Client()\n"
        f"{code}\n"
        "print(json.dumps(result))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env | extra, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_only_sortablejs_distributed_file_is_collected_from_npm(production):
    static = Path(production["STATIC_ROOT"])
    names = sorted(p.name for p in (static / "vendor" / "sortablejs").iterdir())
    assert "Sortable.min.js" in names
    assert all(name.startswith("Sortable.min.") for name in names), names  # hashed and compressed variants only
    assert not [p for p in static.rglob("*") if "axe" in p.name.lower()]


def test_the_admin_and_htmx_static_files_are_collected_with_compressed_variants(production):
    static = Path(production["STATIC_ROOT"])
    assert (static / "admin" / "css" / "base.css").is_file()
    assert (static / "django_htmx" / "htmx-2.min.js").is_file()
    manifest = json.loads((static / "staticfiles.json").read_text())["paths"]
    hashed = manifest["vendor/sortablejs/Sortable.min.js"]
    assert re.fullmatch(r"vendor/sortablejs/Sortable\.min\.[0-9a-f]{12}\.js", hashed)
    assert (static / f"{hashed}.gz").is_file()
    assert (static / f"{manifest['css/relance.css']}.gz").is_file()


def test_pages_reference_hashed_static_files_served_compressed_with_far_future_cache_headers(production):
    result = _requests(
        production,
        """
import re
pages = [client.get(p, secure=True, headers={"host": "relance.example.com"}) for p in ("/accounts/login/", "/admin/login/")]
urls = [url for page in pages for url in re.findall(r'(?:href|src)="(/static/[^"]+)"', page.text)]
result = {"pages": [page.status_code for page in pages], "urls": urls, "assets": {}}
for url in urls:
    asset = client.get(url, secure=True, headers={"host": "relance.example.com", "accept-encoding": "gzip"})
    result["assets"][url] = [asset.status_code, asset.headers.get("Cache-Control"), asset.headers.get("Content-Encoding")]
""",
    )
    assert result["pages"] == [200, 200]
    urls = result["urls"]
    assert {re.sub(r"\.[0-9a-f]{12}\.", ".", url) for url in urls} >= {
        "/static/css/relance.css", "/static/django_htmx/htmx-2.min.js",
        "/static/vendor/sortablejs/Sortable.min.js", "/static/js/relance.js", "/static/admin/css/base.css",
    }  # fmt: skip
    for url in urls:
        assert re.search(r"\.[0-9a-f]{12}\.(css|js)$", url), url
        status, cache_control, encoding = result["assets"][url]
        assert status == 200, url
        assert "max-age=315360000" in cache_control and "immutable" in cache_control, (url, cache_control)
        assert encoding == "gzip", url


def test_a_plain_http_health_probe_is_answered_and_every_other_path_redirects_to_https(production):
    result = _requests(
        production,
        """
host = {"host": "relance.example.com"}
health = client.get("/health/", headers=host)
login = client.get("/accounts/login/", headers=host)
result = {"health": health.status_code, "login": login.status_code, "to": login.headers.get("Location")}
""",
    )
    assert result == {"health": 200, "login": 301, "to": "https://relance.example.com/accounts/login/"}


def test_a_health_probe_on_an_internal_host_is_answered(production):
    code = """
result = [client.get("/health/", headers={"host": h}).status_code for h in ("localhost:8000", "127.0.0.1", "10.0.0.5:8000")]
"""
    assert _requests(production, code) == [200, 200, 400]
    assert _requests(production, code, HEALTH_PROBE_HOSTS="10.0.0.5") == [400, 400, 200]


def test_under_debug_static_files_are_served_from_their_sources_without_collectstatic(production, tmp_path):
    code = """
urls = ["/static/vendor/sortablejs/Sortable.min.js", "/static/vendor/sortablejs/Sortable.js", "/static/css/relance.css"]
result = [client.get(url, headers={"host": "relance.example.com"}).status_code for url in urls]
"""
    env = production | {"DEBUG": "1", "STATIC_ROOT": str(tmp_path / "empty")}
    served, unminified, css = _requests(env, code)
    assert (served, css) == (200, 200)
    assert unminified != 200  # the rest of the npm package is not served


def test_behind_a_proxy_a_request_it_forwarded_as_https_is_not_redirected(production):
    code = """
host = {"host": "relance.example.com"}
result = [
    client.get("/accounts/login/", headers=host | {"x-forwarded-proto": "https"}).status_code,
    client.get("/accounts/login/", headers=host).status_code,
]
"""
    assert _requests(production, code, BEHIND_PROXY="1") == [200, 301]
    assert _requests(production, code) == [301, 301]  # without BEHIND_PROXY the header is not trusted


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_local_tls_recipe_gunicorn_with_a_self_signed_certificate(production, tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost", "-keyout", key, "-out", cert],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    port = _free_port()
    log = open(tmp_path / "gunicorn.log", "w+")  # noqa: SIM115 (closed in finally)
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi", "--config", "gunicorn.conf.py",  # the README's recipe
         "--certfile", cert, "--keyfile", key, "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        cwd=ROOT, env=production | {"ALLOWED_HOSTS": "localhost"}, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    context = ssl.create_default_context(cafile=cert)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                page = urllib.request.urlopen(f"https://localhost:{port}/accounts/login/", context=context, timeout=5)
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, (tmp_path / "gunicorn.log").read_text()
                time.sleep(0.2)
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    assert page.status == 200
    assert page.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert "; secure" in page.headers["Set-Cookie"].lower()  # the CSRF cookie


def test_of_the_npm_packages_the_finders_offer_collectstatic_only_sortablejs_distributed_file():
    from django.contrib.staticfiles.finders import get_finders

    node_modules = ROOT / "node_modules"
    assert (node_modules / "sortablejs" / "Sortable.js").is_file()  # the whole package is there (npm ci)
    offered = []
    for finder in get_finders():
        for path, storage in finder.list(["CVS", ".*", "*~"]):
            if Path(storage.path(path)).is_relative_to(node_modules):
                offered.append(f"{storage.prefix}/{path}" if getattr(storage, "prefix", None) else path)
    assert offered == ["vendor/sortablejs/Sortable.min.js"]
