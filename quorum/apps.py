from django.apps import AppConfig


class QuorumConfig(AppConfig):
    name = "quorum"
    verbose_name = "Platform"
