"""WebSocket authentication by API token, for scripts: ``Authorization: Token <key>`` or ``?token=<key>``.

Browsers are authenticated by their session cookie (Channels' AuthMiddlewareStack) and send no token.
"""

from urllib.parse import parse_qs


def token_key(scope) -> str | None:
    """The API token a connection carries, from its Authorization header or its query string."""
    for name, value in scope.get("headers", []):
        if name == b"authorization" and value.lower().startswith(b"token "):
            return value[6:].decode().strip()
    return (parse_qs(scope.get("query_string", b"").decode()).get("token") or [None])[0]


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


def origin_checked(application):
    """Browsers always send Origin: a foreign one is refused (cross-site WebSocket hijacking). Scripts send none,
    and authenticate with a token, so a missing Origin is let through."""
    from channels.security.websocket import AllowedHostsOriginValidator

    validated = AllowedHostsOriginValidator(application)

    async def app(scope, receive, send):
        if scope["type"] == "websocket" and not any(name == b"origin" for name, _ in scope.get("headers", [])):
            return await application(scope, receive, send)
        return await validated(scope, receive, send)

    return app
