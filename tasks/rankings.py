"""A pairwise job's rankings: each group's candidates ranked from the pairs' answers (docs/ANNOTATION.md).

Reads the job's pair items (group, left and right candidate) and their counting answers, and fits each group with
tasks/aggregation/ranking.py. A gold pair counts as one more comparison with its known side; workers' answers on
gold pairs count as any other (so they weigh in on the workers' reliability too).
"""

import json
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
from django.db import connection

from .aggregation.ranking import Fit, bradley_terry, noisy_bradley_terry
from .aggregation.service import read_job_answers
from .exports import csv_cell
from .forms import Form, Question
from .questions.pairwise import DRAWN_GROUP

METHODS = ("noisy_bt", "bt")
DEFAULT_METHOD = "noisy_bt"
# The worker id of a gold pair's known side in the noisy fit: its answers are trusted, not estimated.
GOLD_WORKER = -1
OUTCOMES = {"left": 1.0, "right": 0.0, "equal": 0.5}
CSV_COLUMNS = ("group", "rank", "candidate", "score", "std_error", "wins", "losses", "ties", "comparisons")


class RankingError(ValueError):
    """A ranking that cannot be made: the job asks no pairwise question, or the method is unknown."""


@dataclass
class CandidateRank:
    rank: int
    candidate: str
    score: float
    std_error: float
    wins: int
    losses: int
    ties: int
    comparisons: int


@dataclass
class GroupRanking:
    group: str
    candidates: list[CandidateRank]


@dataclass
class GroupComparisons:
    """One group's candidates and comparisons, as indexes into ``names``."""

    names: list[str] = field(default_factory=list)
    index: dict[str, int] = field(default_factory=dict)
    left: list[int] = field(default_factory=list)
    right: list[int] = field(default_factory=list)
    outcome: list[float] = field(default_factory=list)
    workers: list[int] = field(default_factory=list)
    # (left, right) of every pair item, answered or not: what tasks/pairs.py counts as drawn.
    pairs: list[tuple[int, int]] = field(default_factory=list)

    def candidate(self, name: str) -> int:
        at = self.index.get(name)
        if at is None:
            at = self.index[name] = len(self.names)
            self.names.append(name)
        return at

    def add(self, left: int, right: int, outcome: float, worker: int) -> None:
        self.left.append(left)
        self.right.append(right)
        self.outcome.append(outcome)
        self.workers.append(worker)

    def fit(self, method: str) -> Fit:
        n = len(self.names)
        if method == "bt":
            return bradley_terry(n, self.left, self.right, self.outcome)
        trusted = np.asarray(self.workers) == GOLD_WORKER
        return noisy_bradley_terry(n, self.left, self.right, self.outcome, self.workers, trusted=trusted)


def pairwise_question(form: Form) -> Question | None:
    """The job's question that ranks candidates (a pairwise comparison), or None."""
    return next((q for q in form.questions if q.plugin.ranks_candidates), None)


def group_key(definition: dict) -> str:
    """The item column that holds a pair's group ("" when the job's candidates form one group)."""
    return DRAWN_GROUP if definition.get("pairs") == "drawn" else definition.get("group_column") or ""


# Django's cursor hands jsonb over as text; cast so that it is always text, and read it with json.loads.
ITEMS_SQL = "SELECT id, data::text, gold::text FROM tasks_item WHERE job_id = %s ORDER BY position"


def job_comparisons(job, question: Question) -> dict[str, GroupComparisons]:
    """Every group's comparisons: the counting answers to ``question``, and the known sides of gold pairs."""
    form = Form.for_job(job)
    definition = question.definition
    group_column, left_column, right_column = group_key(definition), definition["left"], definition["right"]
    groups: dict[str, GroupComparisons] = defaultdict(GroupComparisons)
    pair_of: dict[int, tuple[GroupComparisons, int, int]] = {}
    with connection.cursor() as cur:
        cur.execute(ITEMS_SQL, [job.pk])
        for item_id, data, gold in cur.fetchall():
            data = _json(data) or {}
            group = groups[_text(data.get(group_column)) if group_column else ""]
            left = group.candidate(_text(data.get(left_column)))
            right = group.candidate(_text(data.get(right_column)))
            group.pairs.append((left, right))
            pair_of[item_id] = (group, left, right)
            known = form.values(_json(gold)).get(question.name) if gold is not None else None
            if known in OUTCOMES:
                group.add(left, right, OUTCOMES[known], GOLD_WORKER)
    answers = read_job_answers(form, job.pk, None).by_question[question.name]
    for item_id, worker_id, value in zip(answers.items, answers.workers, answers.values, strict=True):
        side = json.loads(value)
        found = pair_of.get(item_id)
        if found is not None and side in OUTCOMES:
            group, left, right = found
            group.add(left, right, OUTCOMES[side], worker_id)
    return dict(groups)


def job_rankings(job, method: str = DEFAULT_METHOD) -> list[GroupRanking]:
    """Each group's candidates, best first, with score, standard error, rank and their record."""
    if method not in METHODS:
        raise RankingError(f"unknown method '{str(method)[:40]}': use {' or '.join(METHODS)}")
    question = pairwise_question(Form.for_job(job))
    if question is None:
        raise RankingError("this job asks no pairwise question, so it has no ranking")
    rankings = []
    for name, group in sorted(job_comparisons(job, question).items()):
        rankings.append(GroupRanking(name, group_ranking(group, method)))
    return rankings


def group_ranking(group: GroupComparisons, method: str) -> list[CandidateRank]:
    fit = group.fit(method)
    n = len(group.names)
    left, right = np.asarray(group.left, dtype=np.int64), np.asarray(group.right, dtype=np.int64)
    outcome = np.asarray(group.outcome, dtype=float)
    wins = np.bincount(left, outcome == 1.0, n) + np.bincount(right, outcome == 0.0, n)
    losses = np.bincount(left, outcome == 0.0, n) + np.bincount(right, outcome == 1.0, n)
    ties = np.bincount(left, outcome == 0.5, n) + np.bincount(right, outcome == 0.5, n)
    order = sorted(range(n), key=lambda i: (-fit.scores[i], group.names[i]))
    return [
        CandidateRank(
            rank=rank,
            candidate=group.names[i],
            score=round(float(fit.scores[i]), 6) + 0.0,  # + 0.0: never "-0.0"
            std_error=round(float(fit.std_errors[i]), 6),
            wins=int(wins[i]),
            losses=int(losses[i]),
            ties=int(ties[i]),
            comparisons=int(wins[i] + losses[i] + ties[i]),
        )
        for rank, i in enumerate(order, start=1)
    ]


def rankings_json(method: str, rankings: list[GroupRanking]) -> dict:
    return {
        "method": method,
        "groups": [{"group": g.group, "candidates": [vars(c) for c in g.candidates]} for g in rankings],
    }


def rankings_csv_rows(rankings: list[GroupRanking], spreadsheet: bool = False):
    """The ranking export's rows, header first; ``spreadsheet`` guards text cells as the results export does."""
    yield CSV_COLUMNS
    for g in rankings:
        group = csv_cell(g.group, spreadsheet)
        for c in g.candidates:
            candidate = csv_cell(c.candidate, spreadsheet)
            yield (group, c.rank, candidate, c.score, c.std_error, c.wins, c.losses, c.ties, c.comparisons)


def _json(text: str | None):
    return None if text is None else json.loads(text)


def _text(value) -> str:
    return "" if value is None else value if isinstance(value, str) else str(value)
