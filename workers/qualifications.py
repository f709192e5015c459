"""Qualification tests: a requester's short test that grants a skill (``WorkerSkill``) to the workers who pass it.

Writes (create, grant, revoke, attempts) go through these functions; each runs in one transaction and, after the
commit, tells the scheduler (``tasks.quality.worker_changed``) so a worker's live sessions reload their skills and
pick up the jobs that need them at once.
"""

import csv
import io
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from .models import Qualification, QualificationAttempt, User, WorkerProfile, WorkerSkill

MAX_QUESTIONS = 50
MAX_OPTIONS = 10
MAX_NAME = 200
MAX_PROMPT = 1000
MAX_OPTION = 200
MAX_EXPLANATION = 1000
MAX_RETRY_HOURS = 24 * 365
MAX_USERNAMES = 10_000
MAX_CSV_BYTES = 1024 * 1024
SKILL_RE = re.compile(r"^[-a-zA-Z0-9_]{1,64}$")


class QualificationInvalid(Exception):
    """Input that cannot make a qualification, or a grant list with problems: ``errors`` maps field (or line) to
    messages."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__(errors)
        self.errors = errors


def _text(value, limit: int, *, required: bool = True) -> str | None:
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        return None
    value = value.strip()
    if (required and not value) or len(value) > limit:
        return None
    return value


def _number(value, low: float, high: float) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if low <= value <= high else None


def qualification_clean(data) -> dict:
    """The fields of a qualification from API input, or ``QualificationInvalid`` naming every bad field
    (``questions[2].answer``, ...)."""
    if not isinstance(data, dict):
        raise QualificationInvalid({"non_field_errors": ["Send a JSON object."]})
    errors: dict[str, list[str]] = {}
    clean: dict = {}

    def bad(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    clean["name"] = _text(data.get("name"), MAX_NAME)
    if clean["name"] is None:
        bad("name", f"A name of 1 to {MAX_NAME} characters is required.")
    skill = data.get("skill")
    if not isinstance(skill, str) or not SKILL_RE.match(skill):
        bad("skill", "A skill name of 1 to 64 letters, digits, '-' or '_' is required.")
    clean["skill"] = skill
    clean["level"] = _number(data.get("level", 1), 0, 1000)
    if clean["level"] is None:
        bad("level", "The level must be a number from 0 to 1000.")
    clean["pass_mark"] = _number(data.get("pass_mark", 0.8), 0, 1)
    if clean["pass_mark"] is None:
        bad("pass_mark", "The pass mark is the share of questions right to pass: a number from 0 to 1.")
    retry = data.get("retry_hours", 24)
    if isinstance(retry, bool) or not isinstance(retry, int) or not 0 <= retry <= MAX_RETRY_HOURS:
        bad("retry_hours", f"The retry delay must be a whole number of hours from 0 to {MAX_RETRY_HOURS}.")
    clean["retry_hours"] = retry
    questions = data.get("questions")
    if not isinstance(questions, list) or not 1 <= len(questions) <= MAX_QUESTIONS:
        bad("questions", f"Give a list of 1 to {MAX_QUESTIONS} questions.")
        questions = []
    clean["questions"] = []
    for n, question in enumerate(questions):
        where = f"questions[{n}]"
        if not isinstance(question, dict):
            bad(where, "Each question is an object with prompt, options and answer.")
            continue
        prompt = _text(question.get("prompt"), MAX_PROMPT)
        if prompt is None:
            bad(f"{where}.prompt", f"A prompt of 1 to {MAX_PROMPT} characters is required.")
        options = question.get("options")
        if (
            not isinstance(options, list)
            or not 2 <= len(options) <= MAX_OPTIONS
            or any(_text(option, MAX_OPTION) is None for option in options)
        ):
            bad(f"{where}.options", f"Give 2 to {MAX_OPTIONS} options, each 1 to {MAX_OPTION} characters.")
            options = None
        else:
            options = [option.strip() for option in options]
            if len(set(options)) != len(options):
                bad(f"{where}.options", "Options must differ from each other.")
        answer = question.get("answer")
        if isinstance(answer, str) and options and answer.strip() in options:
            answer = options.index(answer.strip())  # the right option may be named by its text
        if isinstance(answer, bool) or not isinstance(answer, int) or not options or not 0 <= answer < len(options):
            bad(f"{where}.answer", "The answer is the right option: its index (from 0) or its text.")
        explanation = _text(question.get("explanation"), MAX_EXPLANATION, required=False)
        if explanation is None:
            bad(f"{where}.explanation", f"The explanation is text of at most {MAX_EXPLANATION} characters.")
        clean["questions"].append({"prompt": prompt, "options": options, "answer": answer, "explanation": explanation})
    if errors:
        raise QualificationInvalid(errors)
    return clean


def qualification_create(owner: User, data) -> Qualification:
    return Qualification.objects.create(owner=owner, **qualification_clean(data))


def qualification_list(owner: User):
    return Qualification.objects.filter(owner=owner).order_by("-created_at")


def _tell_scheduler(user_ids: list[int]) -> None:
    from tasks import quality

    def tell() -> None:
        for user_id in user_ids:
            quality.worker_changed(user_id)

    transaction.on_commit(tell)


def _workers_named(usernames: list[str], lines: list[int] | None = None) -> list[User]:
    """The workers with these usernames, or ``QualificationInvalid`` naming each unknown one (by CSV line when
    ``lines`` is given)."""
    if len(usernames) > MAX_USERNAMES:
        raise QualificationInvalid({"usernames": [f"At most {MAX_USERNAMES} usernames at once."]})
    found = {user.username: user for user in User.objects.filter(username__in=usernames, role=User.Role.WORKER)}
    errors: dict[str, list[str]] = {}
    for n, username in enumerate(usernames):
        if username not in found:
            field = f"line {lines[n]}" if lines else "usernames"
            errors.setdefault(field, []).append(f"No worker is called {username!r}.")
    if errors:
        raise QualificationInvalid(errors)
    return list(found.values())


def usernames_clean(value) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(name, str) and 0 < len(name) <= 150 for name in value):
        raise QualificationInvalid({"usernames": ["Give a list of usernames."]})
    return value


def usernames_from_csv(data: bytes) -> tuple[list[str], list[int]]:
    """The usernames of a CSV file with a ``username`` column, and the line of each; errors name the line."""
    if len(data) > MAX_CSV_BYTES:
        raise QualificationInvalid({"file": [f"The file is larger than {MAX_CSV_BYTES // 1024} KiB."]})
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise QualificationInvalid({"file": ["The file is not UTF-8 text."]}) from None
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "username" not in [name.strip() for name in reader.fieldnames]:
        raise QualificationInvalid({"line 1": ["The first line must name a 'username' column."]})
    reader.fieldnames = [name.strip() for name in reader.fieldnames]
    usernames, lines, errors = [], [], {}
    try:
        for row in reader:
            username = (row.get("username") or "").strip()
            if not username or len(username) > 150:
                errors[f"line {reader.line_num}"] = ["A username of 1 to 150 characters is required."]
                continue
            usernames.append(username)
            lines.append(reader.line_num)
    except csv.Error as exc:
        raise QualificationInvalid({f"line {reader.line_num}": [str(exc)]}) from None
    if errors:
        raise QualificationInvalid(errors)
    if not usernames:
        raise QualificationInvalid({"file": ["The file lists no usernames."]})
    return usernames, lines


def qualification_grant(qualification: Qualification, usernames: list[str], lines: list[int] | None = None) -> int:
    """Give these workers the qualification's skill at its level (all or none: an unknown name changes nothing)."""
    workers = _workers_named(usernames, lines)
    with transaction.atomic():
        for user in workers:
            _skill_set(user, qualification)
        _tell_scheduler([user.pk for user in workers])
    return len(workers)


def qualification_revoke(qualification: Qualification, usernames: list[str], lines: list[int] | None = None) -> int:
    """Take the qualification's skill from these workers; returns how many held it."""
    workers = _workers_named(usernames, lines)
    with transaction.atomic():
        deleted, _ = WorkerSkill.objects.filter(worker__user__in=workers, name=qualification.skill).delete()
        _tell_scheduler([user.pk for user in workers])
    return deleted


def _skill_set(user: User, qualification: Qualification) -> None:
    profile, _ = WorkerProfile.objects.get_or_create(user=user)
    WorkerSkill.objects.update_or_create(
        worker=profile, name=qualification.skill, defaults={"level": qualification.level}
    )


# --- the worker's side -------------------------------------------------------------------------------------------


@dataclass
class Standing:
    """Where a worker stands with a qualification: passed, or when they may try (now when ``retry_at`` is None)."""

    passed: bool
    retry_at: datetime | None
    last: QualificationAttempt | None


def qualification_standing(worker: User, qualification: Qualification) -> Standing:
    last = (
        QualificationAttempt.objects.filter(worker=worker, qualification=qualification).order_by("-created_at").first()
    )
    if last is None:
        return Standing(False, None, None)
    if last.passed:
        return Standing(True, None, last)
    retry_at = last.created_at + timedelta(hours=qualification.retry_hours)
    return Standing(False, retry_at if retry_at > timezone.now() else None, last)


class AttemptRefused(Exception):
    pass


def feedback(qualification: Qualification, answers: list) -> list[dict]:
    """Per question: the prompt, the option chosen, whether it was right, and the explanation."""
    rows = []
    for question, answer in zip(qualification.questions, answers, strict=True):
        rows.append(
            {
                "prompt": question["prompt"],
                "chosen": question["options"][answer] if answer is not None else None,
                "right": answer == question["answer"],
                "explanation": question.get("explanation", ""),
            }
        )
    return rows


def attempt_answers(qualification: Qualification, raw: dict) -> list[int | None]:
    """The option index chosen for each question from form fields ``q<n>``; anything else counts as no answer."""
    answers: list[int | None] = []
    for n, question in enumerate(qualification.questions):
        value = raw.get(f"q{n}")
        try:
            index = int(value) if value is not None and len(value) < 4 else None
        except ValueError:
            index = None
        answers.append(index if index is not None and 0 <= index < len(question["options"]) else None)
    return answers


def attempt_submit(worker: User, qualification: Qualification, answers: list[int | None]) -> QualificationAttempt:
    """Score one attempt; a pass grants the skill. Refused (``AttemptRefused``) after a pass, and after a fail
    until the retry delay is over. The worker's profile row is locked so two submissions at once count as one."""
    with transaction.atomic():
        profile, _ = WorkerProfile.objects.get_or_create(user=worker)
        WorkerProfile.objects.select_for_update().filter(pk=profile.pk).first()
        standing = qualification_standing(worker, qualification)
        if standing.passed:
            raise AttemptRefused(gettext("You have already passed this test."))
        if standing.retry_at is not None:
            raise AttemptRefused(
                gettext("You can try again from %(when)s UTC.") % {"when": f"{standing.retry_at:%Y-%m-%d %H:%M}"}
            )
        right = sum(answer == q["answer"] for answer, q in zip(answers, qualification.questions, strict=True))
        score = right / len(qualification.questions)
        # A small tolerance: 0.8 of 5 questions is 4 right, whatever the float rounding.
        passed = score >= qualification.pass_mark - 1e-9
        attempt = QualificationAttempt.objects.create(
            worker=worker, qualification=qualification, answers=answers, score=score, passed=passed
        )
        if passed:
            _skill_set(worker, qualification)
            _tell_scheduler([worker.pk])
    return attempt


def qualifications_for_skills(skills: set[str]) -> dict[str, list[Qualification]]:
    """The qualifications that grant each of these skills (one query), highest level first."""
    found: dict[str, list[Qualification]] = {}
    if skills:
        for qualification in (
            Qualification.objects.filter(skill__in=skills)
            .only("id", "owner_id", "skill", "level")
            .order_by("-level", "pk")[:1000]
        ):
            found.setdefault(qualification.skill, []).append(qualification)
    return found
