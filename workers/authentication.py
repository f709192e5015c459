"""Who is asking: password sign-in with its lockout (every path that checks a password goes through
``authenticate()`` and so through this backend), and API tokens that expire."""

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from . import auth_limits
from .tokens import TOKEN_KEY, token_expired


class LockoutModelBackend(ModelBackend):
    """Django's backend, counting failed sign-ins and refusing a locked username or address before the password
    is hashed. Raising PermissionDenied makes ``authenticate()`` answer None at once; the sign-in views ask
    ``auth_limits.signin_locked_for`` first so that they can answer 429 and say how long to wait."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        # Without a request the caller is code on the server (a shell, a command), not a client: nothing to count.
        if request is None or username is None or password is None:
            return super().authenticate(request, username, password, **kwargs)
        address = auth_limits.client_address(request)
        wait = auth_limits.signin_attempt(username, address)  # counted before the password is checked
        if wait:
            request.signin_locked_for = wait  # the view answers 429 with it (authenticate() says only None)
            raise PermissionDenied(auth_limits.signin_locked_message(wait))
        user = super().authenticate(request, username, password, **kwargs)
        if user is not None:
            auth_limits.signin_succeeded(username, address)
        return user


class ExpiringTokenAuthentication(TokenAuthentication):
    """DRF's token authentication, refusing a token older than QUORUM_TOKEN_TTL_HOURS."""

    def authenticate_credentials(self, key):
        if not TOKEN_KEY.fullmatch(key):
            raise AuthenticationFailed("Invalid token.")  # never sent to PostgreSQL (a NUL there is a 500)
        user, token = super().authenticate_credentials(key)
        if token_expired(token.created):
            raise AuthenticationFailed(
                "This token has expired: get a new one with POST /api/auth/token/ or on the API tokens page."
            )
        return user, token
