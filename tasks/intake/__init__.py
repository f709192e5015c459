"""Intake: turns an uploaded CSV / JSON Lines / JSON array file into Items and Microtasks.

``readers`` streams rows with their line numbers, ``rows`` validates a row against its job, ``loading`` writes
everything with PostgreSQL COPY inside one transaction, so a failed upload leaves the job as it was.
"""

from .errors import IntakeError, UploadTooLarge

__all__ = ["IntakeError", "UploadTooLarge"]
