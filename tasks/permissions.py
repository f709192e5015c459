from rest_framework.permissions import BasePermission


class IsRequester(BasePermission):
    """Requester endpoints: a signed-in requester (or staff). Workers get 403."""

    message = "Only requesters can use this endpoint."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and (user.is_requester or user.is_staff))
