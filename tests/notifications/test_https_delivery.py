"""Over https the request goes to the checked address, while TLS (SNI and the certificate
check) uses the endpoint's host name."""

import http.server
import ssl
import subprocess
import threading

import pytest

from billing import services
from notifications.models import DeliveryStatus, WebhookDelivery
from notifications.services.endpoints import endpoint_create
from tests.factories import make_invoice

pytestmark = pytest.mark.django_db

HOST = "hooks.relance.test"


def _certificate(tmp_path, name: str):
    cert, key = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={name}",
         "-addext", f"subjectAltName=DNS:{name}", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def https_receiver(tmp_path):
    requests = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            requests.append(self.headers["Host"])
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    def start(cert_name: str):
        cert, key = _certificate(tmp_path, cert_name)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        seen = {}

        def remember_sni(sock, server_name, ctx):
            seen["sni"] = server_name

        context.sni_callback = remember_sni
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server.server_address[1], cert, seen

    servers = []
    yield start, requests
    for server in servers:
        server.shutdown()
        server.server_close()


def _deliver_to(port, settings, monkeypatch, cert, django_capture_on_commit_callbacks):
    monkeypatch.setattr("notifications.ssrf.resolve_host", lambda host, port: ["127.0.0.1"])
    settings.WEBHOOK_ALLOWED_HOSTS = [HOST]
    settings.WEBHOOK_CA_BUNDLE = str(cert)
    endpoint_create(url=f"https://{HOST}:{port}/hooks", enabled_events=["invoice.voided"])
    with django_capture_on_commit_callbacks(execute=True):
        services.invoice_void(invoice=make_invoice(status="open"))
    return WebhookDelivery.objects.get()


def test_https_connects_to_the_checked_address_with_the_host_name_for_sni_and_certificate(
    https_receiver, settings, monkeypatch, django_capture_on_commit_callbacks
):
    start, requests = https_receiver
    port, cert, seen = start(HOST)
    delivery = _deliver_to(port, settings, monkeypatch, cert, django_capture_on_commit_callbacks)
    assert delivery.status == DeliveryStatus.SUCCEEDED, delivery.last_error
    assert requests == [f"{HOST}:{port}"]
    assert seen["sni"] == HOST


def test_a_certificate_for_another_name_is_refused(
    https_receiver, settings, monkeypatch, django_capture_on_commit_callbacks
):
    start, requests = https_receiver
    port, cert, _ = start("somebody-else.test")
    delivery = _deliver_to(port, settings, monkeypatch, cert, django_capture_on_commit_callbacks)
    assert delivery.status == DeliveryStatus.PENDING
    assert requests == []
    assert "certificate" in delivery.last_error.lower() or "ssl" in delivery.last_error.lower()
