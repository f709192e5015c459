"""Webhooks REST API (docs/WEBHOOKS.md): thin views over services and selectors. A requester sees only their own
endpoints and deliveries (another's is a 404); staff see all."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action, api_view, permission_classes
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from tasks.permissions import IsRequester

from . import selectors, services
from .serializers import DeliveryQuerySerializer, DeliverySerializer, EndpointSerializer


class EndpointViewSet(viewsets.ModelViewSet):
    serializer_class = EndpointSerializer
    permission_classes = [IsRequester]

    def get_queryset(self):
        if self.action == "list":
            return selectors.endpoint_list(self.request.user)
        return selectors.endpoints_visible_to(self.request.user)

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            endpoint = services.endpoint_create(owner=request.user, **serializer.validated_data)
        except services.EndpointError as exc:
            raise ValidationError(exc.args[0]) from None
        # The only response that carries the secret.
        return Response({**self.get_serializer(endpoint).data, "secret": endpoint.secret}, status=201)

    def perform_update(self, serializer):
        try:
            serializer.instance = services.endpoint_update(serializer.instance, **serializer.validated_data)
        except services.EndpointError as exc:
            raise ValidationError(exc.args[0]) from None

    def perform_destroy(self, instance):
        services.endpoint_delete(instance)

    @extend_schema(parameters=[DeliveryQuerySerializer], responses=DeliverySerializer(many=True))
    @action(detail=True, methods=["get"])
    def deliveries(self, request, pk=None):
        endpoint = self.get_object()
        query = DeliveryQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        deliveries = selectors.delivery_list(
            endpoint, status=query.validated_data.get("status"), job_id=query.validated_data.get("job")
        )
        page = self.paginate_queryset(deliveries)
        return self.get_paginated_response(DeliverySerializer(page, many=True).data)


@extend_schema(request=None, responses={202: DeliverySerializer})
@api_view(["POST"])
@permission_classes([IsRequester])
def delivery_resend(request, delivery_id: int):
    delivery = get_object_or_404(selectors.deliveries_visible_to(request.user), pk=delivery_id)
    delivery = services.delivery_resend(delivery)
    return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
