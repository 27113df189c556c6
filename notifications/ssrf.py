"""Guard webhook URLs against server-side request forgery (SSRF).

`check_url` parses a webhook URL, normalises its host (IDNA, every IPv4 spelling a resolver accepts, bracketed IPv6),
resolves it and refuses it unless every address it may reach is public, or the host is in WEBHOOK_ALLOWED_HOSTS.
The returned `Target` carries the checked address: connect to that address (sending `host` for the Host header and
TLS SNI), never re-resolve the name, or DNS rebinding gets around the check.
"""

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

type IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
type IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
type Resolver = Callable[[str, int], list[str]]

MAX_URL_LENGTH = 2048
DEFAULT_PORTS = {"https": 443, "http": 80}
PUBLIC_ONLY = "webhooks can only go to public addresses"


class UnsafeURL(ValueError):
    """A webhook URL that Relance refuses; str(exc) / exc.message is a clear, human sentence."""

    message: str

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Target:
    """A checked webhook destination."""

    url: str  # the normalised URL (canonical host, no fragment)
    scheme: str  # "https" or "http"
    host: str  # lowercased, IDNA-encoded hostname, or the canonical IP address; no brackets
    port: int  # explicit or default (443/80)
    address: str  # the checked IP address to connect to (IPv4 dotted or IPv6 compressed, no brackets)
    path: str  # path + "?" + query (at least "/")


# --- Address classification ---------------------------------------------------------------------------------------

_net = ipaddress.ip_network

# First match wins, so narrower ranges come before the ranges that contain them.
_IPV4_RANGES: tuple[tuple[IPNetwork, str], ...] = (
    (_net("0.0.0.0/32"), "an unspecified address"),
    (_net("0.0.0.0/8"), "a reserved 'this network' (0.0.0.0/8) address"),
    (_net("10.0.0.0/8"), "a private address"),
    (_net("100.64.0.0/10"), "a carrier-grade NAT (shared address space) address"),
    (_net("127.0.0.0/8"), "a loopback address"),
    (_net("169.254.169.254/32"), "a link-local address (the cloud metadata endpoint)"),
    (_net("169.254.0.0/16"), "a link-local address"),
    (_net("172.16.0.0/12"), "a private address"),
    (_net("192.0.0.0/24"), "a reserved (IETF protocol assignment) address"),
    (_net("192.0.2.0/24"), "a documentation address"),
    (_net("192.88.99.0/24"), "a reserved (6to4 relay anycast) address"),
    (_net("192.168.0.0/16"), "a private address"),
    (_net("198.18.0.0/15"), "a benchmarking address"),
    (_net("198.51.100.0/24"), "a documentation address"),
    (_net("203.0.113.0/24"), "a documentation address"),
    (_net("224.0.0.0/4"), "a multicast address"),
    (_net("255.255.255.255/32"), "a reserved (broadcast) address"),
    (_net("240.0.0.0/4"), "a reserved address"),
)

_IPV6_RANGES: tuple[tuple[IPNetwork, str], ...] = (
    (_net("::/128"), "an unspecified address"),
    (_net("::1/128"), "a loopback address"),
    (_net("64:ff9b:1::/48"), "a private (local-use NAT64) address"),
    (_net("100::/64"), "a reserved (discard-only) address"),
    (_net("2001::/32"), "a Teredo tunnelling address"),
    (_net("2001:2::/48"), "a benchmarking address"),
    (_net("2001::/23"), "a reserved (IETF protocol assignment) address"),
    (_net("2001:db8::/32"), "a documentation address"),
    (_net("3fff::/20"), "a documentation address"),
    (_net("fc00::/7"), "a private (unique local) address"),
    (_net("fe80::/10"), "a link-local address"),
    (_net("fec0::/10"), "a private (deprecated site-local) address"),
    (_net("ff00::/8"), "a multicast address"),
)

_IPV4_MAPPED = _net("::ffff:0:0/96")
_IPV4_COMPATIBLE = _net("::/96")
_NAT64 = _net("64:ff9b::/96")
_GLOBAL_UNICAST_V6 = _net("2000::/3")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address] | None:
    """The IPv4 address an IPv6 address stands for (mapped, IPv4-compatible, NAT64, 6to4), with its kind."""
    low32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _IPV4_MAPPED:
        return "an IPv4-mapped IPv6 address", low32
    if ip in _IPV4_COMPATIBLE:
        return "an IPv4-compatible IPv6 address", low32
    if ip in _NAT64:
        return "a NAT64 address", low32
    if ip.sixtofour is not None:
        return "a 6to4 address", ip.sixtofour
    return None


def non_public_reason(ip: IPAddress) -> str | None:
    """Why `ip` is not a public unicast address (a noun phrase such as "a loopback address"), or None if it is.

    Explicit ranges give specific reasons and do not depend on the Python version's `is_global` table, which is
    then consulted as a catch-all. IPv6 addresses that embed an IPv4 address are judged by the embedded address too.
    """
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip) if int(ip) > 1 else None  # :: and ::1 are not IPv4-compatible addresses
        if embedded is not None:
            kind, v4 = embedded
            reason = non_public_reason(v4)
            if reason is not None:
                return f"{kind} embedding {v4}, {reason}"
            if kind.startswith("an IPv4-compatible"):
                return "a deprecated IPv4-compatible IPv6 address"
            return None  # mapped / NAT64 / 6to4 of a public IPv4 address reach that public address
        ranges = _IPV6_RANGES
    else:
        ranges = _IPV4_RANGES
    for network, reason in ranges:
        if ip in network:
            return reason
    if isinstance(ip, ipaddress.IPv6Address) and ip not in _GLOBAL_UNICAST_V6:
        return "a reserved address"
    if ip.is_multicast:
        return "a multicast address"
    if not ip.is_global:
        return "a non-public (not globally routable) address"
    return None


# --- Host parsing -------------------------------------------------------------------------------------------------

_NUMERIC_LABEL = re.compile(r"(?:0[xX][0-9a-fA-F]*|[0-9]+)")
_HOST_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_FORBIDDEN_CHARS = re.compile(r"[\x00-\x20\x7f\\]")


def parse_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """Parse an IPv4 address in any spelling resolvers and browsers accept, or return None for a non-numeric host.

    Accepts dotted decimal, octal (0177.0.0.1), hex (0x7f.0.0.1, 0x7f000001), shortened (127.1) and single integers
    (2130706433), like `inet_aton` and the WHATWG URL standard. A host whose last label is numeric is an IPv4 address
    or invalid: UnsafeURL if it does not parse.
    """
    labels = host.split(".")
    if labels and labels[-1] == "" and len(labels) > 1:
        labels.pop()  # one trailing dot: "127.0.0.1."
    if not labels or not _NUMERIC_LABEL.fullmatch(labels[-1]):
        return None
    invalid = UnsafeURL(f"{host} is not a valid IPv4 address.")
    if len(labels) > 4:
        raise invalid
    numbers: list[int] = []
    for label in labels:
        if not _NUMERIC_LABEL.fullmatch(label):
            raise invalid
        if label[:2].lower() == "0x":
            numbers.append(int(label[2:] or "0", 16))
        elif len(label) > 1 and label.startswith("0"):
            if not set(label) <= set("01234567"):
                raise invalid
            numbers.append(int(label, 8))
        else:
            numbers.append(int(label))
    *leading, last = numbers
    if any(n > 255 for n in leading) or last >= 256 ** (5 - len(numbers)):
        raise invalid
    value = last
    for i, n in enumerate(leading):
        value += n << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


def _normalise_host(raw: str) -> tuple[str, IPAddress | None]:
    """(canonical host, IP address if the host is an IP literal), refusing anything malformed."""
    if raw.startswith("["):
        inner = raw[1:-1]
        if "%" in inner:
            raise UnsafeURL("Webhook URLs may not use IPv6 zone identifiers (%).")
        try:
            ip6 = ipaddress.IPv6Address(inner)
        except ValueError:
            raise UnsafeURL(f"{raw} is not a valid IPv6 address.") from None
        return ip6.compressed, ip6
    if not raw:
        raise UnsafeURL("Webhook URL has no host.")
    if ":" in raw:
        try:
            ipaddress.IPv6Address(raw)
        except ValueError:
            raise UnsafeURL(f"{raw} is not a valid host name.") from None
        raise UnsafeURL("IPv6 addresses in webhook URLs must be in square brackets, e.g. https://[2001:db8::1]/.")
    if "%" in raw:
        raise UnsafeURL("Webhook host names may not contain percent-encoding.")
    host = raw.lower()
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise UnsafeURL(f"{raw} is not a valid host name.") from None
    ip4 = parse_ipv4(host)
    if ip4 is not None:
        return str(ip4), ip4
    if host.endswith("."):
        host = host[:-1]
    labels = host.split(".")
    if len(host) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        raise UnsafeURL(f"{raw} is not a valid host name.")
    return host, None


def _split_netloc(netloc: str) -> tuple[str, str | None]:
    """(host, port text or None) from an authority without userinfo."""
    if netloc.startswith("["):
        end = netloc.find("]")
        if end == -1:
            raise UnsafeURL(f"{netloc} is not a valid IPv6 address.")
        host, rest = netloc[: end + 1], netloc[end + 1 :]
        if rest and not rest.startswith(":"):
            raise UnsafeURL(f"Webhook URL has an invalid host: {netloc}.")
        return host, rest[1:] if rest else None
    if netloc.count(":") == 1:
        host, port = netloc.split(":")
        return host, port
    return netloc, None


def _parse_port(text: str | None, scheme: str) -> int:
    if text is None or text == "":
        return DEFAULT_PORTS[scheme]
    if not (text.isascii() and text.isdigit() and len(text) <= 5 and 1 <= int(text) <= 65535):
        raise UnsafeURL(f"Webhook URL port must be a number between 1 and 65535, not {text!r}.")
    return int(text)


# --- Allow-list and resolution ------------------------------------------------------------------------------------


def _parse_allowed(entries: Iterable[str]) -> tuple[set[str], list[IPNetwork]]:
    """Split WEBHOOK_ALLOWED_HOSTS into host names and networks (addresses become single-address networks)."""
    names: set[str] = set()
    networks: list[IPNetwork] = []
    for entry in entries:
        entry = entry.strip().lower().removeprefix("[").removesuffix("]")
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            names.add(entry.removesuffix("."))
    return names, networks


def _in_networks(ip: IPAddress, networks: list[IPNetwork]) -> bool:
    candidates: list[IPAddress] = [ip]
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        candidates.append(ip.ipv4_mapped)
    return any(c.version == n.version and c in n for c in candidates for n in networks)


def resolve_host(host: str, port: int) -> list[str]:
    """All distinct addresses `host` resolves to for a TCP connection, in resolver order."""
    addresses: list[str] = []
    for *_, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        address = str(sockaddr[0]).split("%", 1)[0]  # drop an IPv6 scope id
        if address not in addresses:
            addresses.append(address)
    return addresses


def _resolve(host: str, port: int, resolve: Resolver) -> list[IPAddress]:
    try:
        found = resolve(host, port)
    except (OSError, UnicodeError):
        found = []
    if not found:
        raise UnsafeURL(f"{host} could not be resolved; check the webhook URL's host name.")
    addresses: list[IPAddress] = []
    for text in found:
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            raise UnsafeURL(f"{host} resolves to {text!r}, which is not a usable IP address.") from None
        if address not in addresses:
            addresses.append(address)
    return addresses


# --- The check ----------------------------------------------------------------------------------------------------


def check_url(url: str, *, allowed_hosts: Iterable[str] | None = None, resolve: Resolver | None = None) -> Target:
    """Check a webhook URL and return its `Target`, or raise UnsafeURL saying why it is refused.

    Only https is accepted, or http for hosts in `allowed_hosts` (default: settings.WEBHOOK_ALLOWED_HOSTS; host names,
    IP addresses or CIDR networks). Every address a host name resolves to (`resolve(host, port)`, default
    `resolve_host`) must be public, unless the host name or that address is allowed; IP literals are checked directly.
    """
    if not isinstance(url, str) or not url.strip():
        raise UnsafeURL("Webhook URL is empty.")
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeURL(f"Webhook URLs may be at most {MAX_URL_LENGTH} characters long.")
    if _FORBIDDEN_CHARS.search(url):
        raise UnsafeURL("Webhook URLs may not contain spaces, control characters or backslashes.")
    try:
        parts = urlsplit(url)
    except ValueError:
        raise UnsafeURL(f"{url} is not a valid URL.") from None

    scheme = parts.scheme
    if scheme not in DEFAULT_PORTS:
        if not scheme:
            raise UnsafeURL("Webhook URLs must start with https://.")
        raise UnsafeURL(f"Webhook URLs must use https; {scheme}: URLs are not allowed.")
    if not url[len(scheme) + 1 :].startswith("//") or not parts.netloc:
        raise UnsafeURL("Webhook URL has no host.")
    if "@" in parts.netloc:
        raise UnsafeURL("Webhook URLs may not contain a user name or password (user:pass@host).")

    raw_host, port_text = _split_netloc(parts.netloc)
    host, literal = _normalise_host(raw_host)
    port = _parse_port(port_text, scheme)

    if allowed_hosts is None:
        from django.conf import settings

        allowed_hosts = getattr(settings, "WEBHOOK_ALLOWED_HOSTS", [])
    allowed_names, allowed_networks = _parse_allowed(allowed_hosts)

    if literal is not None:
        addresses: list[IPAddress] = [literal]
        written = raw_host.strip("[]")
        shown = host if written.lower() == host else f"{written} ({host})"
    else:
        addresses = _resolve(host, port, resolve or resolve_host)
        shown = host

    name_allowed = literal is None and host in allowed_names
    if not name_allowed:
        for address in addresses:
            if _in_networks(address, allowed_networks):
                continue
            reason = non_public_reason(address)
            if reason is not None:
                lead = f"{shown} is" if literal is not None else f"{shown} resolves to {address},"
                raise UnsafeURL(f"{lead} {reason}; {PUBLIC_ONLY}.")

    allowed = name_allowed or all(_in_networks(a, allowed_networks) for a in addresses)
    if scheme == "http" and not allowed:
        raise UnsafeURL("Webhook URLs must use https (http is allowed only for hosts in WEBHOOK_ALLOWED_HOSTS).")

    path = parts.path or "/"
    if not path.startswith("/"):
        path = "/" + path
    if parts.query:
        path += "?" + parts.query
    url_host = f"[{host}]" if ":" in host else host
    url_port = "" if port == DEFAULT_PORTS[scheme] else f":{port}"
    return Target(
        url=f"{scheme}://{url_host}{url_port}{path}",
        scheme=scheme,
        host=host,
        port=port,
        address=addresses[0].compressed,
        path=path,
    )
