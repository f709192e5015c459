"""One HTTP POST to a requester's endpoint, guarded against server-side request forgery.

The URL's host is resolved when the request is sent and every address it resolves to is checked against the
deployment's rules (``QUORUM_WEBHOOK_*`` settings): no loopback, private, link-local, multicast, reserved or
unspecified address unless ``QUORUM_WEBHOOK_ALLOW_PRIVATE``, none on the deny list, only hosts of the allow list
where one is set. The connection is then made to the checked address itself, so a DNS answer that changes between
the check and the connect (DNS rebinding) cannot redirect it. Redirects are never followed; connect and total
time and the response read are bounded, so a slow or hostile endpoint costs at most one timeout.
"""

import hashlib
import hmac
import http.client
import ipaddress
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

USER_AGENT = "Quorum-Webhooks/1"


class Refused(Exception):
    """The URL may not be called under this deployment's rules; the message says why."""


@dataclass
class Outcome:
    ok: bool
    response_code: int | None = None
    error: str = ""
    # Without a response, a short word for the metrics: refused, timeout, tls, connection.
    kind: str = ""


@dataclass
class Target:
    scheme: str
    host: str
    port: int
    path: str


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256(secret, f"{timestamp}.{body}")."""
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def parse_target(url: str) -> Target:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise Refused(f"the URL must start with http:// or https://, not {parts.scheme or 'nothing'}")
    if parts.username or parts.password:
        raise Refused("the URL may not carry a user name or password")
    host = (parts.hostname or "").lower().rstrip(".")
    if not host:
        raise Refused("the URL has no host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise Refused(f"the URL's port is not valid ({exc})") from None
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(parts.scheme, host, port, path)


def _listed(host: str, ip: ipaddress._BaseAddress | None, entries: list[str]) -> bool:
    """Whether a host name (itself or a subdomain of an entry starting with '.') or an address (an address or
    network entry) is on a list."""
    for entry in entries:
        if entry.startswith(".") and (host.endswith(entry) or host == entry[1:]):
            return True
        if entry == host:
            return True
        if ip is not None:
            try:
                if ip in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                continue
    return False


def _literal_ip(host: str) -> ipaddress._BaseAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def address_problem(ip: ipaddress._BaseAddress) -> str | None:
    """Why this address may not be called, or None."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if settings.QUORUM_WEBHOOK_ALLOW_PRIVATE:
        return None
    for flag, words in (
        ("is_loopback", "a loopback"),
        ("is_link_local", "a link-local"),
        ("is_multicast", "a multicast"),
        ("is_unspecified", "an unspecified"),
        ("is_private", "a private"),
        ("is_reserved", "a reserved"),
    ):
        if getattr(ip, flag):
            return (
                f"{ip} is {words} address; this deployment does not call such addresses (QUORUM_WEBHOOK_ALLOW_PRIVATE)"
            )
    return None


def host_problem(target: Target, ip: ipaddress._BaseAddress | None = None) -> str | None:
    """The allow and deny lists, for the host name and (when known) one of its addresses."""
    if _listed(target.host, ip, settings.QUORUM_WEBHOOK_DENIED_HOSTS):
        return f"{target.host} is on this deployment's deny list (QUORUM_WEBHOOK_DENIED_HOSTS)"
    allowed = settings.QUORUM_WEBHOOK_ALLOWED_HOSTS
    if allowed and not _listed(target.host, ip, allowed) and not _listed(target.host, None, allowed):
        return f"{target.host} is not on this deployment's allow list (QUORUM_WEBHOOK_ALLOWED_HOSTS)"
    if ip is not None:
        return address_problem(ip)
    return None


def url_problem(url: str) -> str | None:
    """What is wrong with an endpoint URL as written (scheme, lists, a literal address); names are resolved
    only at send time, where ``resolve`` checks them again."""
    try:
        target = parse_target(url)
    except Refused as exc:
        return str(exc)
    return host_problem(target, _literal_ip(target.host))


def resolve(target: Target) -> str:
    """The address to connect to: every address the host resolves to must pass, else Refused."""
    problem = host_problem(target, None)
    if problem:
        raise Refused(problem)
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise Refused(f"{target.host} could not be resolved ({exc.strerror})") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise Refused(f"{target.host} has no address")
    for address in addresses:
        problem = host_problem(target, ipaddress.ip_address(address.split("%")[0]))
        if problem:
            raise Refused(problem)
    return addresses[0]


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to a checked address while the Host header (and TLS name) stay the URL's host."""

    def __init__(self, target: Target, address: str, connect_timeout: float, read_timeout: float):
        super().__init__(target.host, target.port, timeout=read_timeout)
        self._address, self._connect_timeout, self._read_timeout = address, connect_timeout, read_timeout
        self._target = target

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), timeout=self._connect_timeout)
        self.sock.settimeout(self._read_timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._target.scheme == "https":
            self.sock = ssl.create_default_context().wrap_socket(self.sock, server_hostname=self._target.host)


def post(url: str, body: bytes, headers: dict[str, str]) -> Outcome:
    """POST ``body``; success is a 2xx answer. Every failure is an Outcome with a clear error, never an exception."""
    connect_timeout = settings.QUORUM_WEBHOOK_CONNECT_TIMEOUT
    total = settings.QUORUM_WEBHOOK_TIMEOUT
    started = time.monotonic()
    try:
        target = parse_target(url)
        address = resolve(target)
    except Refused as exc:
        return Outcome(False, None, f"refused: {exc}", "refused")
    conn = _PinnedHTTPConnection(target, address, connect_timeout, total)
    # The socket timeout bounds each read; this bounds the whole exchange (an endpoint that trickles a byte at a
    # time): at the deadline the socket is shut, which wakes the blocked read.
    expired = threading.Event()

    def cut() -> None:
        expired.set()
        if conn.sock is not None:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    timer = threading.Timer(total, cut)
    timer.daemon = True
    timer.start()
    try:
        conn.request(
            "POST",
            target.path,
            body=body,
            headers={**headers, "Content-Type": "application/json", "User-Agent": USER_AGENT, "Connection": "close"},
        )
        response = conn.getresponse()
        head = response.read(settings.QUORUM_WEBHOOK_MAX_RESPONSE_BYTES)
        code = response.status
    except TimeoutError:
        phase = "connect" if conn.sock is None else "response"
        limit = connect_timeout if conn.sock is None else total
        return Outcome(False, None, f"timed out waiting for the {phase} after {limit:g} s", "timeout")
    except ssl.SSLError as exc:
        return Outcome(False, None, f"TLS error: {exc.reason or exc}", "tls")
    except (OSError, http.client.HTTPException) as exc:
        if expired.is_set():
            return Outcome(False, None, f"timed out: no complete response within {total:g} s", "timeout")
        return Outcome(False, None, f"connection failed: {exc.__class__.__name__}: {exc}".strip(), "connection")
    finally:
        timer.cancel()
        conn.close()
    if expired.is_set() or time.monotonic() - started > total:
        return Outcome(False, code, f"timed out: no complete response within {total:g} s")
    if 200 <= code < 300:
        return Outcome(True, code)
    if 300 <= code < 400:
        location = response.getheader("Location", "")[:300]
        return Outcome(False, code, f"redirect to {location or '(no Location)'} not followed: answer 2xx at this URL")
    text = head[:200].decode("utf-8", "replace")
    return Outcome(False, code, f"HTTP {code}: {text}".strip())
