from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import api_view, permission_classes
from rest_framework.exceptions import Throttled, ValidationError
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from quorum.money import amount_text, currency, money
from quorum.throttling import AddressRateThrottle

from . import auth_limits, selectors
from .serializers import MeSerializer, SigninSerializer, SignupSerializer, TokenSerializer
from .services import UsernameTaken, signup_roles, user_create
from .tokens import token_expires_at, token_for_signin, token_revoke_all


def _token_body(token) -> dict:
    return {"token": token.key, "expires_at": token_expires_at(token.created)}


@extend_schema(request=SignupSerializer, responses={201: MeSerializer})
@api_view(["POST"])
@permission_classes([AllowAny])
def signup(request):
    if not signup_roles():
        return Response({"detail": "sign-up is closed on this server; ask its staff"}, status=status.HTTP_403_FORBIDDEN)
    address = auth_limits.client_address(request)
    wait = auth_limits.signup_reserve(address)
    if wait:
        raise Throttled(wait=wait, detail=auth_limits.signup_blocked_message(wait))
    try:
        serializer = SignupSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = user_create(**serializer.validated_data)
    except UsernameTaken as exc:
        auth_limits.signup_release(address)
        raise ValidationError({"username": [str(exc)]}) from None
    except BaseException:
        auth_limits.signup_release(address)  # no account was made: the sign-up is not used up
        raise
    token = token_for_signin(user)
    return Response({**MeSerializer(user).data, **_token_body(token)}, status=status.HTTP_201_CREATED)


class TokenView(APIView):
    """POST: your API token for your username and password (a new one if yours expired).
    DELETE: revoke the token you call with (or your session's user's token)."""

    throttle_classes = [AddressRateThrottle]

    def get_permissions(self):
        return [AllowAny()] if self.request.method == "POST" else [IsAuthenticated()]

    def perform_authentication(self, request):
        # Lazily, so that a script still sending an expired token can POST its password for a new one.
        pass

    @extend_schema(request=SigninSerializer, responses={200: TokenSerializer})
    def post(self, request):
        serializer = SigninSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        username, password = serializer.validated_data["username"], serializer.validated_data["password"]
        wait = auth_limits.signin_locked_for(username, auth_limits.client_address(request))
        if wait:
            raise Throttled(wait=wait, detail=auth_limits.signin_locked_message(wait))
        user = authenticate(request._request, username=username, password=password)
        wait = getattr(request._request, "signin_locked_for", 0)  # locked by attempts sent at the same moment
        if wait:
            raise Throttled(wait=wait, detail=auth_limits.signin_locked_message(wait))
        if user is None:
            return Response(
                {"non_field_errors": ["Unable to log in with provided credentials."]},
                status=status.HTTP_400_BAD_REQUEST,
            )
        return Response(_token_body(token_for_signin(user)))

    @extend_schema(request=None, responses={204: None})
    def delete(self, request):
        token_revoke_all(request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(responses=MeSerializer)
@api_view(["GET"])
@permission_classes([IsAuthenticated])
def me(request):
    return Response(MeSerializer(request.user).data)


def _statement_summary(user) -> dict:
    stats = selectors.worker_stats(user)
    balance = selectors.worker_balance(user)
    amounts = {
        "earnings_today": stats["earnings_today"],
        "earnings_total": stats["earnings_total"],
        "earnings_pending": stats["earnings_pending"],
        "balance": balance["balance"],
        "paid": balance["paid"],
        "awaiting": balance["awaiting"],
    }
    return {
        "currency": currency(),
        **{name: amount_text(value) for name, value in amounts.items()},
        "awaiting_count": balance["awaiting_count"],
        # As pages show them ("USD 0.40"), so browser code never formats money itself.
        "text": {name: money(value) for name, value in amounts.items()},
    }


@extend_schema(responses={200: dict})
@api_view(["GET"])
@permission_classes([IsAuthenticated])
def me_statement(request):
    """The signed-in worker's own money: `?summary=1` the figures only; else also one page of ledger entries
    (`?page=`, newest first, each with the balance after it) and the answers awaiting review."""
    if not request.user.is_worker:
        return Response({"detail": "statements are for workers"}, status=status.HTTP_403_FORBIDDEN)
    body = _statement_summary(request.user)
    if request.query_params.get("summary") in ("1", "true"):
        return Response(body)
    try:
        page = int(request.query_params.get("page", "1")[:9])
    except ValueError:
        raise ValidationError({"page": ["a page number"]}) from None
    statement = selectors.worker_statement_page(request.user, page)
    body.update(
        page=statement["page"],
        pages=statement["pages"],
        count=statement["count"],
        entries=[
            {
                "id": e["id"],
                "created_at": e["created_at"],
                "kind": e["kind"],
                "job_id": e["job_id"],
                "job": e["job"],
                "note": e["note"],
                "amount": amount_text(e["amount"]),
                "balance": amount_text(e["balance"]),
                "batch_id": e["batch_id"],
            }
            for e in statement["entries"]
        ],
        awaiting_review=[
            {**a, "amount": amount_text(a["amount"])} for a in selectors.worker_awaiting_review(request.user)
        ],
    )
    return Response(body)
