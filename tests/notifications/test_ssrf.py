"""The webhook SSRF guard: which URLs are refused and why, and what a safe URL resolves to. No test uses the network."""

import dataclasses
import ipaddress
import socket

import pytest

from notifications.ssrf import Target, UnsafeURL, check_url, non_public_reason, parse_ipv4, resolve_host

PUBLIC_V4 = "93.184.216.34"
PUBLIC_V6 = "2606:2800:220:1:248:1893:25c8:1946"

DNS = {
    "hooks.example.com": [PUBLIC_V4, PUBLIC_V6],
    "public.example": [PUBLIC_V4],
    "xn--bcher-kva.example": [PUBLIC_V4],
    "metadata.example": ["10.0.0.5"],
    "mixed.example": [PUBLIC_V4, "192.168.0.10"],
    "rebind.example": ["::1"],
    "mapped.example": ["::ffff:169.254.169.254"],
    "cloud.example": ["169.254.169.254"],
    "localhost": ["127.0.0.1", "::1"],
    "empty.example": [],
    "garbage.example": ["not-an-ip"],
    "internal.example": ["10.2.3.4"],
    "intranet.example": ["192.168.1.5"],
    "split.example": ["10.0.0.5", "192.168.0.1"],
}


def fake_resolve(host: str, port: int) -> list[str]:
    """A resolver reading DNS; unknown names fail like NXDOMAIN."""
    if host not in DNS:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return DNS[host]


def no_resolve(host: str, port: int) -> list[str]:
    raise AssertionError(f"IP literals must not be resolved (asked for {host})")


BAD_URLS = [
    # IPv4 ranges
    ("https://127.0.0.1/", "loopback"),
    ("https://127.255.255.254/", "loopback"),
    ("https://10.0.0.1/", "private"),
    ("https://172.16.0.1/", "private"),
    ("https://172.31.255.255/", "private"),
    ("https://192.168.1.1/", "private"),
    ("https://169.254.169.254/latest/meta-data/", "metadata"),
    ("https://169.254.1.1/", "link-local"),
    ("https://100.64.0.1/", "carrier-grade NAT"),
    ("https://224.0.0.1/", "multicast"),
    ("https://239.255.255.250/", "multicast"),
    ("https://240.0.0.1/", "reserved"),
    ("https://255.255.255.255/", "broadcast"),
    ("https://0.0.0.0/", "unspecified"),
    ("https://0.1.2.3/", "0.0.0.0/8"),
    ("https://198.18.0.1/", "benchmarking"),
    ("https://192.0.2.1/", "documentation"),
    ("https://198.51.100.7/", "documentation"),
    ("https://203.0.113.9/", "documentation"),
    ("https://192.0.0.8/", "reserved"),
    # Legacy IPv4 spellings
    ("https://2130706433/", "loopback"),
    ("http://2130706433/", "loopback"),
    ("https://0177.0.0.1/", "loopback"),
    ("https://017700000001/", "loopback"),
    ("https://0x7f.0.0.1/", "loopback"),
    ("https://0x7f000001/", "loopback"),
    ("https://0X7F.1/", "loopback"),
    ("https://127.1/", "loopback"),
    ("https://10.1/", "private"),
    ("https://0/", "unspecified"),
    ("https://0xA9.0xFE.0xA9.0xFE/", "metadata"),
    ("https://2852039166/", "metadata"),
    ("https://127.0.0.1./", "loopback"),
    ("https://\uff11\uff12\uff17.\uff10.\uff10.\uff11/", "loopback"),  # fullwidth digits
    ("https://1.2.3.4.5/", "not a valid IPv4"),
    ("https://08.0.0.1/", "not a valid IPv4"),
    ("https://256.0.0.1/", "not a valid IPv4"),
    ("https://1.2.3.0x100/", "not a valid IPv4"),
    # IPv6 ranges
    ("https://[::1]/", "loopback"),
    ("https://[0:0:0:0:0:0:0:1]:8443/", "loopback"),
    ("https://[::]/", "unspecified"),
    ("https://[fc00::1]/", "private"),
    ("https://[fd12:3456:789a::1]/", "private"),
    ("https://[fe80::1]/", "link-local"),
    ("https://[fec0::1]/", "site-local"),
    ("https://[ff02::1]/", "multicast"),
    ("https://[ff0e::1]/", "multicast"),
    ("https://[2001:db8::1]/", "documentation"),
    ("https://[3fff::1]/", "documentation"),
    ("https://[2001:2::1]/", "benchmarking"),
    ("https://[100::1]/", "discard"),
    ("https://[64:ff9b:1::1]/", "NAT64"),
    ("https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", "Teredo"),
    ("https://[4000::1]/", "reserved"),
    # IPv6 embedding IPv4
    ("https://[::ffff:127.0.0.1]/", "loopback"),
    ("https://[::ffff:7f00:1]/", "loopback"),
    ("https://[::ffff:10.0.0.1]/", "private"),
    ("https://[::ffff:169.254.169.254]/", "metadata"),
    ("https://[::ffff:100.64.0.1]/", "carrier-grade NAT"),
    ("https://[::ffff:198.18.0.1]/", "benchmarking"),
    ("https://[::ffff:0.1.2.3]/", "0.0.0.0/8"),
    ("https://[::ffff:240.0.0.1]/", "reserved"),
    ("https://[::ffff:224.0.0.1]/", "multicast"),
    ("https://[::127.0.0.1]/", "loopback"),
    ("https://[::8.8.8.8]/", "IPv4-compatible"),
    ("https://[64:ff9b::10.0.0.1]/", "private"),
    ("https://[64:ff9b::a9fe:a9fe]/", "metadata"),
    ("https://[2002:7f00:1::]/", "loopback"),
    ("https://[2002:c0a8:101::1]/", "private"),
    ("https://[fe80::1%25eth0]/", "zone"),
    # Userinfo
    ("https://user:pass@example.com/", "user name or password"),
    ("https://user@example.com/", "user name or password"),
    ("https://public.example@127.0.0.1/", "user name or password"),
    # Schemes
    ("ftp://example.com/file", "https"),
    ("file:///etc/passwd", "https"),
    ("gopher://127.0.0.1:6379/_INFO", "https"),
    ("javascript:alert(1)", "https"),
    ("dict://127.0.0.1:11211/stats", "https"),
    ("http://public.example/hook", "http is allowed only"),
    ("http://8.8.8.8/", "http is allowed only"),
    ("//public.example/hook", "https://"),
    # Empty and malformed
    ("", "empty"),
    ("   ", "empty"),
    ("not-a-url", "https://"),
    ("https://", "no host"),
    ("https:///path", "no host"),
    ("https:public.example", "no host"),
    ("https://:443/", "no host"),
    ("https://public.example:0/", "port"),
    ("https://public.example:65536/", "port"),
    ("https://public.example:http/", "port"),
    ("https://public.example/" + "a" * 2048, "at most 2048"),
    ("https://pub lic.example/", "spaces"),
    ("https://public.example\r\n/", "control characters"),
    ("https://public.example\\@127.0.0.1/", "backslashes"),
    ("https://a..b/", "not a valid host name"),
    ("https://-bad.example/", "not a valid host name"),
    ("https://%31%32%37.0.0.1/", "percent-encoding"),
    ("https://::1/", "square brackets"),
    ("https://[127.0.0.1]/", "not a valid"),
    ("https://[not-ipv6]/", "not a valid"),
    # Host names, via the fake resolver
    ("https://metadata.example/", "resolves to 10.0.0.5, a private address"),
    ("https://mixed.example/", "resolves to 192.168.0.10, a private address"),
    ("https://rebind.example/", "resolves to ::1, a loopback address"),
    ("https://mapped.example/", "metadata"),
    ("https://cloud.example/", "metadata"),
    ("https://localhost/", "loopback"),
    ("https://nxdomain.example/", "could not be resolved"),
    ("https://empty.example/", "could not be resolved"),
    ("https://garbage.example/", "not a usable IP address"),
]


@pytest.mark.parametrize(("url", "keyword"), BAD_URLS, ids=[url[:60] or "<empty>" for url, _ in BAD_URLS])
def test_unsafe_url_is_refused_with_the_reason(url, keyword):
    with pytest.raises(UnsafeURL) as excinfo:
        check_url(url, allowed_hosts=[], resolve=fake_resolve)
    assert keyword.lower() in excinfo.value.message.lower()
    assert str(excinfo.value) == excinfo.value.message


def test_the_corpus_is_large():
    assert len(BAD_URLS) >= 35


@pytest.mark.parametrize(
    "url",
    [url for url, _ in BAD_URLS if "//" in url and url.split("//", 1)[1][:1] in "[0123456789\uff11"],
)
def test_ip_literals_are_checked_without_resolving(url):
    with pytest.raises(UnsafeURL):
        check_url(url, allowed_hosts=[], resolve=no_resolve)


def test_refusals_explain_that_only_public_addresses_are_allowed():
    with pytest.raises(UnsafeURL) as excinfo:
        check_url("https://127.0.0.1/", allowed_hosts=[], resolve=no_resolve)
    assert excinfo.value.message == "127.0.0.1 is a loopback address; webhooks can only go to public addresses."


def test_legacy_spelling_is_named_with_its_normal_form():
    with pytest.raises(UnsafeURL) as excinfo:
        check_url("https://0x7f000001/", allowed_hosts=[], resolve=no_resolve)
    assert excinfo.value.message.startswith("0x7f000001 (127.0.0.1) is a loopback address")


def test_http_to_a_public_host_asks_for_https():
    with pytest.raises(UnsafeURL) as excinfo:
        check_url("http://public.example/", allowed_hosts=[], resolve=fake_resolve)
    assert excinfo.value.message == (
        "Webhook URLs must use https (http is allowed only for hosts in WEBHOOK_ALLOWED_HOSTS)."
    )


def test_unsafe_url_is_a_value_error():
    assert issubclass(UnsafeURL, ValueError)


# --- Accepted URLs --------------------------------------------------------------------------------------------------


def test_https_to_a_public_ipv4_literal_is_accepted():
    target = check_url(f"https://{PUBLIC_V4}/hook", allowed_hosts=[], resolve=no_resolve)
    assert target == Target(
        url=f"https://{PUBLIC_V4}/hook", scheme="https", host=PUBLIC_V4, port=443, address=PUBLIC_V4, path="/hook"
    )


def test_https_to_a_public_ipv6_literal_in_brackets_is_accepted():
    target = check_url("https://[2606:4700:4700:0::1111]:8443/", allowed_hosts=[], resolve=no_resolve)
    assert target.host == "2606:4700:4700::1111"
    assert target.address == "2606:4700:4700::1111"
    assert target.port == 8443
    assert target.url == "https://[2606:4700:4700::1111]:8443/"


def test_host_name_resolving_to_public_addresses_gives_the_first_address():
    calls = []

    def resolve(host, port):
        calls.append((host, port))
        return fake_resolve(host, port)

    target = check_url(
        "HTTPS://Hooks.Example.COM:8443/relance/hook?token=abc&x=1#ignored", allowed_hosts=[], resolve=resolve
    )
    assert calls == [("hooks.example.com", 8443)]
    assert target == Target(
        url="https://hooks.example.com:8443/relance/hook?token=abc&x=1",
        scheme="https",
        host="hooks.example.com",
        port=8443,
        address=PUBLIC_V4,
        path="/relance/hook?token=abc&x=1",
    )


def test_empty_path_becomes_slash():
    target = check_url("https://public.example", allowed_hosts=[], resolve=fake_resolve)
    assert target.path == "/"
    assert target.url == "https://public.example/"


def test_unicode_host_names_are_idna_encoded():
    target = check_url("https://bücher.example/", allowed_hosts=[], resolve=fake_resolve)
    assert target.host == "xn--bcher-kva.example"


def test_ipv4_mapped_public_address_is_accepted():
    target = check_url("https://[::ffff:8.8.8.8]/", allowed_hosts=[], resolve=no_resolve)
    assert target.address == "::ffff:808:808"


def test_target_is_frozen():
    target = check_url(f"https://{PUBLIC_V4}/", allowed_hosts=[], resolve=no_resolve)
    with pytest.raises(dataclasses.FrozenInstanceError):
        target.address = "127.0.0.1"


# --- WEBHOOK_ALLOWED_HOSTS ------------------------------------------------------------------------------------------


def test_allowed_address_permits_http_to_loopback():
    target = check_url("http://127.0.0.1:8080/hook", allowed_hosts=["127.0.0.1"], resolve=no_resolve)
    assert (target.scheme, target.host, target.port, target.address, target.path) == (
        "http",
        "127.0.0.1",
        8080,
        "127.0.0.1",
        "/hook",
    )


def test_allowed_address_matches_legacy_spellings_after_normalising():
    target = check_url("http://2130706433:8080/", allowed_hosts=["127.0.0.1"], resolve=no_resolve)
    assert target.host == "127.0.0.1"
    assert target.url == "http://127.0.0.1:8080/"


def test_allowed_cidr_network_permits_its_addresses():
    assert check_url("http://10.1.2.3/", allowed_hosts=["10.0.0.0/8"], resolve=no_resolve).address == "10.1.2.3"


def test_allowed_cidr_network_permits_host_names_resolving_into_it():
    target = check_url("http://internal.example/hook", allowed_hosts=["10.0.0.0/8"], resolve=fake_resolve)
    assert target.address == "10.2.3.4"
    assert target.host == "internal.example"


def test_allowed_cidr_network_does_not_allow_other_private_addresses():
    with pytest.raises(UnsafeURL, match="private"):
        check_url("https://192.168.1.1/", allowed_hosts=["10.0.0.0/8"], resolve=no_resolve)
    with pytest.raises(UnsafeURL, match="192.168.0.1, a private address"):
        check_url("https://split.example/", allowed_hosts=["10.0.0.0/8"], resolve=fake_resolve)


def test_allowed_host_name_skips_the_public_check_but_is_still_resolved():
    target = check_url("http://intranet.example/", allowed_hosts=["Intranet.Example"], resolve=fake_resolve)
    assert target.address == "192.168.1.5"


def test_allowed_ipv6_address_permits_http():
    target = check_url("http://[::1]:9000/", allowed_hosts=["::1"], resolve=no_resolve)
    assert target.address == "::1"
    assert target.url == "http://[::1]:9000/"


def test_allowed_localhost_uses_the_real_resolver():
    target = check_url("http://localhost:8000/hook", allowed_hosts=["localhost"])
    assert target.host == "localhost"
    assert target.address in {"127.0.0.1", "::1"}


def test_allowed_hosts_default_to_the_setting(settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    assert check_url("http://127.0.0.1/", resolve=no_resolve).address == "127.0.0.1"
    settings.WEBHOOK_ALLOWED_HOSTS = []
    with pytest.raises(UnsafeURL, match="loopback"):
        check_url("http://127.0.0.1/", resolve=no_resolve)


def test_http_needs_every_resolved_address_to_be_allowed():
    with pytest.raises(UnsafeURL, match="https"):
        check_url("http://mixed.example/", allowed_hosts=["192.168.0.0/16"], resolve=fake_resolve)


# --- Building blocks ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spelling",
    ["127.0.0.1", "2130706433", "0177.0.0.1", "0x7f.0.0.1", "0x7f000001", "127.1", "0x7f.1", "017700000001", "0"],
)
def test_ipv4_parsing_agrees_with_inet_aton(spelling):
    assert str(parse_ipv4(spelling)) == socket.inet_ntoa(socket.inet_aton(spelling))


def test_ipv4_parsing_ignores_host_names():
    assert parse_ipv4("example.com") is None
    assert parse_ipv4("1e100.net") is None


@pytest.mark.parametrize("address", ["8.8.8.8", PUBLIC_V4, "2606:4700:4700::1111", PUBLIC_V6, "2002:808:808::1"])
def test_public_addresses_have_no_reason_to_refuse(address):
    assert non_public_reason(ipaddress.ip_address(address)) is None


def test_default_resolver_returns_distinct_addresses_without_scope(monkeypatch):
    def getaddrinfo(host, port, type):
        assert (host, port, type) == ("hooks.example.com", 443, socket.SOCK_STREAM)
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", (PUBLIC_V4, 443)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", (PUBLIC_V4, 443)),
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("fe80::1%eth0", 443, 0, 2)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    assert resolve_host("hooks.example.com", 443) == [PUBLIC_V4, "fe80::1"]


def test_dns_failure_from_the_default_resolver_is_refused(monkeypatch):
    def getaddrinfo(host, port, type):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    with pytest.raises(UnsafeURL, match="could not be resolved"):
        check_url("https://nowhere.example/", allowed_hosts=[])
