"""Aggregation: turning answers into results with a confidence.

``base`` defines the coded-answers interface, ``categorical`` / ``numeric`` / ``text`` the methods (pure numpy,
registered in ``METHODS``), ``adaptive`` the adaptive-redundancy policy, ``gold`` the gold rate and trust score,
``files`` the offline answers files, and ``service`` the database-facing result refresh.
"""

from .base import NO_LABEL, Aggregate, Answers
from .categorical import auto, ds, hds, mv, ods, wmv

# Categorical methods a job may name in ``aggregation_method``; "auto" is the default.
METHODS = {"auto": auto, "mv": mv, "wmv": wmv, "ods": ods, "ds": ds, "hds": hds}
DEFAULT_METHOD = "auto"

__all__ = ["DEFAULT_METHOD", "METHODS", "NO_LABEL", "Aggregate", "Answers"]
