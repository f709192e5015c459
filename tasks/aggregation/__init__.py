"""Aggregation: turning answers into results with a confidence.

``base`` defines the coded-answers interface, ``categorical`` / ``numeric`` / ``text`` the methods (pure numpy,
registered in ``METHODS``), ``adaptive`` the adaptive-redundancy policy, ``gold`` the gold rate and trust score,
``calibration`` the reliability bins and expected calibration error of a stated confidence against gold,
``files`` the offline answers files, ``offline`` what the aggregate / replay commands run, and ``service`` the
database-facing result refresh, ``reliability`` the job page's picture of stated confidence against gold.
"""

from .base import NO_LABEL, Aggregate, Answers
from .categorical import DEFAULT_METHOD, METHODS

__all__ = ["DEFAULT_METHOD", "METHODS", "NO_LABEL", "Aggregate", "Answers"]
