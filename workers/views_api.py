from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.authtoken.models import Token
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response

from .serializers import MeSerializer, SignupSerializer
from .services import signup_roles, user_create


@extend_schema(request=SignupSerializer, responses={201: MeSerializer})
@api_view(["POST"])
@permission_classes([AllowAny])
def signup(request):
    if not signup_roles():
        return Response({"detail": "sign-up is closed on this server; ask its staff"}, status=status.HTTP_403_FORBIDDEN)
    serializer = SignupSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    user = user_create(**serializer.validated_data)
    token, _ = Token.objects.get_or_create(user=user)
    return Response({**MeSerializer(user).data, "token": token.key}, status=status.HTTP_201_CREATED)


@extend_schema(responses=MeSerializer)
@api_view(["GET"])
@permission_classes([IsAuthenticated])
def me(request):
    return Response(MeSerializer(request.user).data)
