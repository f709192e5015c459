"""Drawn pairs (``pairs: "drawn"``, docs/ANNOTATION.md): the data rows are candidates and Quorum draws the pairs.

At intake, ``pair_rows_from_candidates`` reads every candidate row, refuses what cannot be ranked (an empty
candidate, a candidate twice in a group, a group of one) and yields the first pairs: a random cycle through each
group, so every candidate is in two comparisons and the group's comparisons connect.

While the job runs, ``pairs_draw_next`` (called by the results pipeline, tasks/results.py) tops each group up when
few of its pairs are still open: it fits the group's scores from the answers so far (Bradley-Terry with worker
reliability) and appends the pairs whose order the ranking is least sure of (``choose_pairs``), until the group
has its budget of ``comparisons_per_candidate * candidates / 2`` pairs. Each drawn pair is asked once (the
pairwise type sets a drawn job's redundancy to 1): a new pair tells the ranking more than a second answer to one. The new pairs go through intake like any upload
(``ingest_file``), under the job's row lock, so two passes cannot draw the same round twice.
"""

import json
import logging
import math
import tempfile
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from scipy import sparse

from .aggregation.ranking import choose_pairs, initial_pairs
from .forms import Form, Question
from .intake import IntakeError
from .models import Job
from .questions.pairwise import DRAWN_GROUP, DRAWN_LEFT, DRAWN_RIGHT

log = logging.getLogger(__name__)

MAX_CANDIDATES_PER_GROUP = 10_000
DRAWN_FILENAME = "drawn-pairs.jsonl"


def pair_rows_from_candidates(definition: dict, rows, filename: str):
    """(line, pair row) of the first pairs, from the (line, row) pairs of a file of candidates; a pair's line is
    its left candidate's. Reads the whole file first (bounded: MAX_CANDIDATES_PER_GROUP a group and the job's
    item limit overall), so every error is found before a pair is written."""
    column, group_column = definition["candidate_column"], definition.get("group_column") or ""
    limit = settings.QUORUM_MAX_ITEMS_PER_JOB
    groups: dict[str, dict[str, int]] = {}  # group -> candidate -> its line
    total = 0
    for line, row in rows:
        value = row.get(column)
        if value is None or (candidate := _text(value).strip()) == "":
            raise IntakeError(
                f"the candidate column '{column}' is missing or empty", file=filename, line=line, field=column
            )
        group = _text(row.get(group_column)).strip() if group_column else ""
        members = groups.setdefault(group, {})
        if candidate in members:
            where = f" of group '{group[:80]}'" if group_column else ""
            raise IntakeError(
                f"the candidate '{candidate[:80]}'{where} is also on line {members[candidate]}; each candidate once",
                file=filename,
                line=line,
                field=column,
            )
        if len(members) >= MAX_CANDIDATES_PER_GROUP:
            raise IntakeError(
                f"a group has at most {MAX_CANDIDATES_PER_GROUP} candidates", file=filename, line=line, field=column
            )
        total += 1
        if total > limit:
            raise IntakeError(f"the job would have more than the limit of {limit} items", file=filename, line=line)
        members[candidate] = line
    for group, members in groups.items():
        if len(members) == 1:
            ((candidate, line),) = members.items()
            named = f"group '{group[:80]}'" if group_column else "the file"
            raise IntakeError(
                f"{named} has one candidate ('{candidate[:80]}'); a ranking needs at least two",
                file=filename,
                line=line,
                field=group_column or column,
            )
    rng = np.random.default_rng()
    for group, members in groups.items():
        names = list(members)
        for a, b in initial_pairs(len(names), rng):
            yield members[names[a]], {DRAWN_GROUP: group, DRAWN_LEFT: names[a], DRAWN_RIGHT: names[b]}


def drawn_question(form: Form) -> Question | None:
    return next((q for q in form.questions if q.plugin.ranks_candidates and q.definition.get("pairs") == "drawn"), None)


def group_budget(definition: dict, candidates: int) -> int:
    """The pairs a group gets in all: each candidate in ``comparisons_per_candidate`` of them."""
    return math.ceil(definition["comparisons_per_candidate"] * candidates / 2)


def round_size(candidates: int) -> int:
    """Pairs drawn for a group at a time (and drawn again when fewer than this are open): a quarter of its
    candidates, so a round spreads over the group (choose_pairs gives a candidate one new pair a round)."""
    return max(1, candidates // 4)


# Per group: its candidates, its pairs, and those still open (one statement; the answers are read only when a
# group is to be drawn for).
GROUPS_SQL = """
SELECT i.data ->> %(group)s, count(DISTINCT v.candidate), count(DISTINCT i.id),
       count(DISTINCT i.id) FILTER (WHERE m.status = 'open')
FROM tasks_item i
JOIN tasks_microtask m ON m.job_id = i.job_id AND m.index = i.microtask_index
CROSS JOIN LATERAL (VALUES (i.data ->> %(left)s), (i.data ->> %(right)s)) AS v(candidate)
WHERE i.job_id = %(job)s AND NOT m.is_gold
GROUP BY 1
"""


def groups_wanting_pairs(job: Job, definition: dict) -> dict[str, int]:
    """{group: pairs to draw now} for the groups with few pairs open and budget left."""
    with connection.cursor() as cur:
        cur.execute(GROUPS_SQL, {"group": DRAWN_GROUP, "left": DRAWN_LEFT, "right": DRAWN_RIGHT, "job": job.pk})
        stats = cur.fetchall()
    wanted = {}
    for group, candidates, pairs, still_open in stats:
        size = round_size(candidates)
        more = min(group_budget(definition, candidates) - pairs, size)
        if more > 0 and still_open < size:
            wanted[group or ""] = more
    return wanted


def pairs_draw_next(job: Job) -> int:
    """Draw the next pairs of the groups of a drawn job whose open pairs run low and whose budget is not spent;
    returns how many were added (0 for any other job)."""
    from .intake.loading import ingest_file
    from .rankings import job_comparisons
    from .scheduling import pool

    question = drawn_question(Form.for_job(job))
    if question is None:
        return 0
    definition = question.definition
    if not groups_wanting_pairs(job, definition):
        return 0  # the common case, without the lock
    with transaction.atomic():
        # The job's row lock, which ingest_file takes too: a second pass waits here and then sees this one's pairs.
        job = Job.objects.select_for_update().filter(pk=job.pk, status__in=[Job.Status.OPEN, Job.Status.PAUSED]).first()
        if job is None:
            return 0
        wanted = groups_wanting_pairs(job, definition)
        room = settings.QUORUM_MAX_ITEMS_PER_JOB - job.item_count
        rows: list[dict] = []
        rng = np.random.default_rng()
        comparisons_by_group = job_comparisons(job, question) if wanted else {}
        for group, more in sorted(wanted.items()):
            comparisons = comparisons_by_group.get(group)
            more = min(more, room - len(rows))
            if comparisons is None or more <= 0:
                continue
            n = len(comparisons.names)
            fit = comparisons.fit("noisy_bt")  # a spammer's answers should not decide what to ask next
            pairs = np.asarray(comparisons.pairs, dtype=np.int64).reshape(-1, 2)
            drawn = sparse.csr_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
            for a, b in choose_pairs(fit, drawn, more):
                if rng.random() < 0.5:  # either side first: no candidate is always shown on the left
                    a, b = b, a
                rows.append({DRAWN_GROUP: group, DRAWN_LEFT: comparisons.names[a], DRAWN_RIGHT: comparisons.names[b]})
        if not rows:
            return 0
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / DRAWN_FILENAME
            path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
            ingest_file(job.pk, path, DRAWN_FILENAME, rows_are_items=True)
    transaction.on_commit(lambda: pool.job_microtasks_added(job.pk))
    log.info("drew %s more pairs for job %s", len(rows), job.pk)
    return len(rows)


def _text(value) -> str:
    return "" if value is None else value if isinstance(value, str) else str(value)
