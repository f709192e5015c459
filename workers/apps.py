from django.apps import AppConfig


class WorkersConfig(AppConfig):
    name = "workers"
    verbose_name = "People"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_out

        # A signal, not a service call: sign-out happens in Django's views (/logout/, the admin's, the
        # browsable API's), and each must end the API token too.
        user_logged_out.connect(_revoke_token_on_logout, dispatch_uid="workers.revoke_token_on_logout")


def _revoke_token_on_logout(sender, request, user, **kwargs) -> None:
    from .tokens import token_revoke_all

    if user is not None:
        token_revoke_all(user)
