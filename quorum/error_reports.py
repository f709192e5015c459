"""Errors to Sentry, when SENTRY_DSN is set (settings.py calls ``sentry_start``; unset, this module is never
imported and neither is the SDK).

Django (requests, with their transaction names) and Celery (failed jobs, with their task ids) are reported.
No personal data by default: no user ids, addresses, cookies or request bodies unless SENTRY_SEND_DEFAULT_PII.
"""


def sentry_start(dsn: str, *, environment: str, traces_sample_rate: float, send_default_pii: bool) -> None:
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        traces_sample_rate=traces_sample_rate,
        send_default_pii=send_default_pii,
        # Request bodies are workers' answers and requesters' data: never sent.
        max_request_body_size="never",
    )
