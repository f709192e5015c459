"""Quorum: a self-hosted human-computation platform (the Django project package).

Named ``quorum`` and not ``platform``: a package called ``platform`` shadows the standard-library module that
Celery and ``uuid`` import.
"""

from .celery import app as celery_app

__all__ = ("celery_app",)
