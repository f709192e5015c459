"""Which of a job's questions the machine answers, and why not the others, in words a requester can act on.

The model is a text classifier: it answers one question whose type says it can (``QuestionType.
machine_answerable``) from one text column. A form whose items need answers to other questions goes to people
whole, since the machine taking an item would leave those questions unanswered. No model code here: the
dashboard and the API import this module.
"""

from dataclasses import asdict, dataclass

from ..forms import Form, Question
from ..models import Job
from ..questions import QUESTION_TYPES

# Display blocks whose column the model can read.
TEXT_BLOCKS = ("text", "markdown")


@dataclass(frozen=True)
class QuestionSupport:
    name: str
    handled: bool
    reason: str

    def as_dict(self) -> dict:
        return asdict(self)


def text_column(job: Job) -> str:
    """The column the model reads: the job's text_field, else the column of the form's first text or markdown
    block; empty when there is none."""
    if job.text_field:
        return job.text_field
    return next((block["column"] for block in job.display or [] if block.get("type") in TEXT_BLOCKS), "")


def _answerable_types() -> str:
    return ", ".join(p.label.lower() for p in QUESTION_TYPES.values() if p.machine_answerable)


def _why_not(form: Form, question: Question, column: str) -> str:
    """Why the machine leaves this question to people ("" when it answers it)."""
    plugin = question.plugin
    if not plugin.machine_answerable:
        return (
            f"the model answers {_answerable_types()} questions over text only; "
            f"people answer this {plugin.label.lower()} question"
        )
    if question.show_if:
        return "questions shown only for some answers (show_if) are answered by people"
    if not form.single:
        return (
            f"the model answers a job that asks one question; this form asks {len(form.questions)}, "
            "so people answer every question of it"
        )
    if len(plugin.labels(question.definition)) < 2:
        return "the question has fewer than two options"
    if not column:
        return (
            "the items have no text column (set the job's text_field, or show a text block); the machine reads "
            "text only"
        )
    return ""


def questions_support(job: Job) -> list[QuestionSupport]:
    """For each question of the job: whether the machine answers it, and what it does or why not."""
    form = Form.for_job(job)
    column = text_column(job)
    support = []
    for question in form.questions:
        problem = _why_not(form, question, column)
        reason = problem or f"the model answers it from the text column '{column}'"
        support.append(QuestionSupport(question.name, not problem, reason))
    return support


def unsupported_reason(job: Job) -> str:
    """Why the machine cannot answer this job's items at all, naming each question it leaves; empty when it can."""
    unhandled = [s for s in questions_support(job) if not s.handled]
    if not unhandled:
        return ""
    return "people answer every item of this job: " + "; ".join(f"question '{s.name}': {s.reason}" for s in unhandled)
