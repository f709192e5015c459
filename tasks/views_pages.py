"""Requester pages: the dashboard, creating a job, the live job page, the results browser, API tokens.

Thin views: who is asking, one selector or service call, a template. Another requester's job is a 404.
"""

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST
from rest_framework.authtoken.models import Token

from quorum.money import amount_text, currency, money
from workers import ledger
from workers.tokens import token_expired, token_expires_at, token_replace, token_revoke_all

from . import media, quality, selectors, services
from .aggregation.reliability import gold_reliability
from .automation.questions import questions_support, text_column
from .forms import Form
from .models import QUESTION_TYPE_CHOICES, Assignment, Item, Job
from .questions import QUESTION_TYPES

RESULTS_PAGE_SIZE = 50


def requester_required(view):
    """Signed in as a requester (or staff); workers get 403."""

    @wraps(view)
    @login_required
    def wrapped(request, *args, **kwargs):
        if not (request.user.is_requester or request.user.is_staff):
            raise PermissionDenied("Only requesters can open this page.")
        return view(request, *args, **kwargs)

    return wrapped


def home(request):
    if not request.user.is_authenticated:
        return render(request, "landing.html")
    if request.user.is_worker and not request.user.is_staff:
        return redirect("work")
    return redirect("dashboard")


@requester_required
def dashboard(request):
    jobs = list(selectors.job_list(request.user)[:100])
    counts = selectors.job_counts_many(jobs)
    rows = []
    for job in jobs:
        c = counts[job.pk]
        percent = round(100 * c["items_done"] / c["items"]) if c["items"] else 0
        rows.append({"job": job, "counts": c, "percent": percent})
    return render(request, "requester/dashboard.html", {"rows": rows, "every_job": request.user.is_staff})


@requester_required
def job_new(request):
    # Every type goes to the form builder; the simple mode's list offers those a prompt and options define.
    types = [(name, label, QUESTION_TYPES[name].simple) for name, label in QUESTION_TYPE_CHOICES]
    return render(request, "requester/job_new.html", {"question_types": types, "currency": currency()})


def _questions_summary(job: Job) -> list[dict]:
    """Each question of the job's form as the job and edit pages list it: prompt, type and options (read-only)."""
    summary = []
    for question in Form.for_job(job).questions:
        definition = question.definition
        plugin = QUESTION_TYPES.get(definition.get("type"))
        summary.append(
            {
                "name": definition.get("name", ""),
                "prompt": definition.get("prompt", ""),
                "type": plugin.label if plugin else definition.get("type", ""),
                "options": [str(o) for o in definition.get("options") or definition.get("labels") or []],
            }
        )
    return summary


@requester_required
def job_detail(request, job_id: int):
    job = selectors.job_get_or_404(request.user, job_id)
    automation = questions_support(job) if job.automation_enabled else []
    return render(
        request,
        "requester/job_detail.html",
        {
            "job": job,
            "questions": _questions_summary(job),
            "snapshot": selectors.job_snapshot(job),
            "automation_questions": automation,
            "reliability": gold_reliability(job, wait=False),
            # Bonuses are the owner's to pay (staff may look at the job, not pay on it).
            "can_bonus": job.owner_id == request.user.pk,
            "currency": currency(),
            "max_bonus": amount_text(ledger.max_bonus()),
        },
    )


# The settings the edit page offers; the API takes every field, under the same rule (services.job_fixed_fields).
EDIT_FIELDS = [
    "name", "instructions", "priority", "reward", "budget", "redundancy", "max_answers", "target_confidence",
    "lease_seconds", "auto_accept_hours", "items_per_microtask",
]  # fmt: skip
# Empty on the form means "none" for these.
EDIT_FIELDS_NULLABLE = {"budget", "max_answers"}


@requester_required
def job_edit(request, job_id: int):
    """The job's name, instructions and settings; fields that may no longer change are shown disabled with why."""
    from .serializers import JobSerializer

    job = selectors.job_get_or_404(request.user, job_id)
    fixed = services.job_fixed_fields(job)
    errors = {}
    values = {name: getattr(job, name) for name in EDIT_FIELDS}
    if request.method == "POST":
        data = {}
        for name in EDIT_FIELDS:
            if name in fixed or name not in request.POST:
                continue
            value = request.POST[name].strip() if name != "instructions" else request.POST[name]
            data[name] = None if value == "" and name in EDIT_FIELDS_NULLABLE else value
        serializer = JobSerializer(job, data=data, partial=True)
        if serializer.is_valid():
            services.job_settings_saved(serializer.save())
            messages.success(request, "The job's changes are saved.")
            return redirect("job-detail", job_id=job.pk)
        errors = {name: " ".join(str(m) for m in problems) for name, problems in serializer.errors.items()}
        values.update(data)
    return render(
        request,
        "requester/job_edit.html",
        {
            "job": job,
            "values": values,
            "errors": errors,
            "fixed": fixed,
            "questions": _questions_summary(job),
            "questions_fixed": fixed.get("questions", ""),
        },
    )


TRANSITIONS = {
    "publish": services.job_publish,
    "pause": services.job_pause,
    "resume": services.job_resume,
    "cancel": services.job_cancel,
}


@require_POST
@requester_required
def job_transition(request, job_id: int, action: str):
    job = selectors.job_get_or_404(request.user, job_id)
    service = TRANSITIONS.get(action)
    if service is None:
        raise PermissionDenied("Unknown action.")
    try:
        service(job)
    except services.JobStateError as exc:
        messages.error(request, str(exc))
    return redirect("job-detail", job_id=job.pk)


def _float_or_none(value: str) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _share_or_none(value: float | None) -> float | None:
    return None if value is None or not 0 <= value <= 1 else value


@requester_required
def job_results(request, job_id: int):
    job = selectors.job_get_or_404(request.user, job_id)
    filters = {
        "confidence_below": _float_or_none(request.GET.get("confidence_below")),
        "disagreement": request.GET.get("disagreement") == "1",
        "source": request.GET.get("source", ""),
        "search": request.GET.get("q", "").strip()[:200],
    }
    items = selectors.item_list(job, **filters)
    page = Paginator(items, RESULTS_PAGE_SIZE).get_page(request.GET.get("page"))
    counts = selectors.item_answer_counts([item.pk for item in page])
    media_of = media.viewer_media(job)
    for item in page:
        item.answers_given = counts.get(item.pk, 0)
        item.media = media_of(item.data)  # {column: signed URL} for the media blocks
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "requester/results.html",
        {
            "job": job,
            "page": page,
            "filters": filters,
            "sources": Item.Source.choices,
            "query": query.urlencode(),
            "annotations": _annotation_context(job, page),
            # The bulk review's filter: the API's names for the filters shown (POST /api/jobs/<id>/review/).
            "review_request": {
                "job": job.pk,
                "filter": {
                    "confidence_below": _share_or_none(filters["confidence_below"]),
                    "disagreement": filters["disagreement"],
                    "source": filters["source"] if filters["source"] in Item.Source.values else "",
                    "q": filters["search"],
                },
            },
        },
    )


@requester_required
def item_detail(request, job_id: int, item_id: int):
    job = selectors.job_get_or_404(request.user, job_id)
    item = get_object_or_404(Item, job=job, pk=item_id)
    item.media = media.viewer_media(job)(item.data)
    shown = _media_shown(job, item.media)
    # The text column and the media shown above are not listed again among the other fields.
    above = {text_column(job)} | {block["column"] for block in shown}
    data = item.data if isinstance(item.data, dict) else {}
    return render(
        request,
        "requester/item.html",
        {
            "job": job,
            "item": item,
            "answers": selectors.item_answers(item),
            "text": _item_text(job, item),
            "media": shown,
            "other_fields": {key: value for key, value in data.items() if key not in above},
            "annotations": _annotation_context(job, [item]),
        },
    )


def _annotation_context(job: Job, items) -> dict | None:
    """What the pages' script (frontend/js/results.js) needs to draw results on the item's own columns (spans on
    the text, boxes on the image, a pair's candidates): the form, and per item those columns, the media URLs and
    the result of each question. None for a job whose questions show no column themselves. ``items`` carry
    ``media`` ({column: signed URL})."""
    form = Form.for_job(job)
    claimed = form.claimed_columns()
    if not claimed:
        return None
    public = form.public()
    out = {"job": job.pk, "single": form.questions[0].name if form.single else None, "items": {}, **public}
    for item in items:
        data = item.data if isinstance(item.data, dict) else {}
        if form.single:
            results = {form.questions[0].name: item.result}
        else:
            per_question = item.results if isinstance(item.results, dict) else {}
            results = {n: r.get("result") if isinstance(r, dict) else r for n, r in per_question.items()}
        out["items"][str(item.pk)] = {
            "id": item.pk,
            "data": {c: data[c] for c in claimed if c in data},
            "media": getattr(item, "media", None) or {},
            "results": results,
        }
    return out


def _media_shown(job: Job, urls: dict) -> list[dict]:
    """The item's media blocks as the requester sees them: {type, label, column, url} for each media block."""
    return [
        {**block, "url": urls[block["column"]]}
        for block in Form.for_job(job).media_blocks()
        if urls.get(block["column"])
    ]


def _item_text(job: Job, item: Item):
    """The item's text column (a form's first text block when the job names none), or None."""
    column = text_column(job)
    return item.data.get(column) if column and isinstance(item.data, dict) else None


@require_POST
@requester_required
def assignment_review_view(request, job_id: int, assignment_id: int):
    job = selectors.job_get_or_404(request.user, job_id)
    assignment = get_object_or_404(Assignment, job=job, pk=assignment_id)
    accepted = request.POST.get("decision") == "accept"
    try:
        services.assignment_review(assignment, accepted)
    except services.JobStateError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Assignment {assignment.pk} {'accepted' if accepted else 'rejected'}.")
    return redirect(_safe_next(request, job))


def _safe_next(request, job: Job) -> str:
    target = request.POST.get("next", "")
    return target if target.startswith(f"/jobs/{job.pk}/") else f"/jobs/{job.pk}/results/"


@require_POST
@requester_required
def worker_block_view(request, job_id: int, worker_id: int):
    job = selectors.job_get_or_404(request.user, job_id)
    # A requester may block only someone who worked on their job.
    assignment = Assignment.objects.filter(job=job, worker_id=worker_id).select_related("worker").first()
    if assignment is None:
        raise PermissionDenied("This worker has not worked on this job.")
    quality.worker_block_for_job(job.pk, worker_id, f"blocked by {request.user.username}")
    messages.success(request, f"{assignment.worker.username} is blocked on this job and gets no more of its work.")
    return redirect(_safe_next(request, job))


@require_POST
@requester_required
def worker_bonus_view(request, job_id: int, worker_id: int):
    job = selectors.job_get_or_404(request.user, job_id)
    try:
        entry = ledger.bonus_pay(
            job=job,
            worker_id=worker_id,
            amount=request.POST.get("amount", "")[:32],
            reason=request.POST.get("reason", "")[: ledger.NOTE_MAX_LENGTH + 1],
            paid_by=request.user,
        )
    except PermissionError as exc:
        raise PermissionDenied(str(exc)) from None
    except ledger.LedgerRefused as exc:
        messages.error(request, f"No bonus paid: {exc}.")
    else:
        messages.success(request, f"Bonus of {money(entry.amount)} paid to {entry.worker.username}.")
    return redirect(_safe_next(request, job))


@login_required
def tokens(request):
    if request.method == "POST":
        if request.POST.get("action") == "revoke":
            token_revoke_all(request.user)
            messages.success(request, "Your token is revoked; scripts that use it are refused from now on.")
        else:
            token_replace(request.user)
            messages.success(request, "A new token was made; the old one no longer works.")
        return redirect("tokens")
    token = Token.objects.filter(user=request.user).first()
    context = {"token": token}
    if token is not None:
        context.update(expires_at=token_expires_at(token.created), expired=token_expired(token.created))
    return render(request, "requester/tokens.html", context)
