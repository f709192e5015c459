"""WebSocket authentication by API token, for scripts: ``Authorization: Token <key>`` or ``?token=<key>``.

Browsers are authenticated by their session cookie (Channels' AuthMiddlewareStack) and send no token.
"""

from urllib.parse import parse_qs, urlparse


def token_key(scope) -> str | None:
    """The API token a connection carries, from its Authorization header or its query string."""
    for name, value in scope.get("headers", []):
        if name == b"authorization" and value.lower().startswith(b"token "):
            return value[6:].decode("latin-1").strip()
    return (parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token") or [None])[0]


def auth_stack(inner):
    """A token, when a connection carries one, decides who it is (no user for an unknown token); otherwise the
    session cookie does.

    Token connections (scripts, simulated crowds) skip the session and its thread hop: a burst of them is
    authenticated on the event loop in one query each.
    """
    from channels.auth import AuthMiddlewareStack

    from workers.lookups import Lookups

    by_session = AuthMiddlewareStack(inner)

    async def app(scope, receive, send):
        key = token_key(scope)
        if key:
            user = await Lookups.get().user_for_token(key)
            return await inner({**scope, "user": user}, receive, send)
        return await by_session(scope, receive, send)

    return app


DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def origin_allowed(origin: str, host: str) -> bool:
    """Is a page at ``origin`` this site? Its host and port must be those the browser connected to (the Host
    header), or the origin must be trusted (CSRF_TRUSTED_ORIGINS, QUORUM_WS_ALLOWED_ORIGINS; ``*.`` wildcards as
    Django's). A Host without a port means the default port of the scheme the browser used, which is the Origin's
    scheme: behind a TLS-terminating proxy the server itself sees plain ws."""
    from django.conf import settings
    from django.http.request import split_domain_port, validate_host

    parsed = urlparse(origin)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return False
    try:
        origin_port = parsed.port or DEFAULT_PORTS[parsed.scheme]
    except ValueError:
        return False
    for trusted in [*settings.CSRF_TRUSTED_ORIGINS, *settings.QUORUM_WS_ALLOWED_ORIGINS]:
        allowed = urlparse(trusted)
        if allowed.scheme == parsed.scheme and (
            allowed.netloc == parsed.netloc
            or (allowed.netloc.startswith("*.") and parsed.netloc.endswith(allowed.netloc[1:]))
        ):
            return True
    domain, port = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return False
    host_port = int(port) if port else DEFAULT_PORTS[parsed.scheme]
    return domain.strip("[]") == parsed.hostname and host_port == origin_port


def origin_checked(application):
    """Browsers always send Origin: one that is not this site (another host, or another port of this host) is
    refused, against cross-site WebSocket hijacking. Scripts send none, and authenticate with a token, so a
    missing Origin is let through."""
    from channels.security.websocket import WebsocketDenier

    async def app(scope, receive, send):
        if scope["type"] == "websocket":
            headers = dict(scope.get("headers", []))
            origin = headers.get(b"origin")
            if origin is not None and not origin_allowed(
                origin.decode("latin-1"), headers.get(b"host", b"").decode("latin-1")
            ):
                return await WebsocketDenier()(scope, receive, send)
        return await application(scope, receive, send)

    return app
