"""WebSocket authentication by API token, for scripts: ``Authorization: Token <key>`` or ``?token=<key>``.

Browsers are authenticated by their session cookie (Channels' AuthMiddlewareStack, which runs first).
"""

from urllib.parse import parse_qs

from channels.db import database_sync_to_async


def _user_for_token(key: str):
    from rest_framework.authtoken.models import Token

    token = Token.objects.select_related("user").filter(key=key).first()
    return token.user if token and token.user.is_active else None


# Any pool thread, not the single shared one: a crowd connecting at once is looked up in parallel.
user_for_token = database_sync_to_async(_user_for_token, thread_sensitive=False)


class TokenAuthMiddleware:
    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        user = scope.get("user")
        if user is None or not user.is_authenticated:
            key = None
            for name, value in scope.get("headers", []):
                if name == b"authorization" and value.lower().startswith(b"token "):
                    key = value[6:].decode().strip()
            if key is None:
                key = (parse_qs(scope.get("query_string", b"").decode()).get("token") or [None])[0]
            if key:
                found = await user_for_token(key)
                if found is not None:
                    scope = {**scope, "user": found}
        return await self.inner(scope, receive, send)


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
