"""Qualification tests: the requester API and page, and the worker's test page. Thin: the logic is in
workers/qualifications.py."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import api_view, permission_classes
from rest_framework.response import Response

from tasks.permissions import IsRequester
from tasks.views_pages import requester_required

from . import qualifications as quals
from .models import Qualification


def qualification_body(qualification: Qualification) -> dict:
    return {
        "id": qualification.pk,
        "name": qualification.name,
        "skill": qualification.skill,
        "level": qualification.level,
        "pass_mark": qualification.pass_mark,
        "retry_hours": qualification.retry_hours,
        "questions": qualification.questions,
        "created_at": qualification.created_at.isoformat(),
    }


def _own(request, qualification_id: int) -> Qualification:
    # Another requester's qualification is a 404, as with jobs; staff may open any.
    owned = Qualification.objects.all() if request.user.is_staff else Qualification.objects.filter(owner=request.user)
    return get_object_or_404(owned, pk=qualification_id)


@extend_schema(methods=["GET"], operation_id="qualifications_list", responses=OpenApiTypes.OBJECT)
@extend_schema(
    methods=["POST"],
    operation_id="qualifications_create",
    request=OpenApiTypes.OBJECT,
    responses=OpenApiTypes.OBJECT,
    description=(
        "Create a qualification: name, skill (slug), level, pass_mark (0-1), retry_hours, and "
        "questions: [{prompt, options, answer (index or text of the right option), explanation}], 1 to 50. "
        "A 400 maps each bad field (questions[2].answer, ...) to its messages."
    ),
)
@api_view(["GET", "POST"])
@permission_classes([IsRequester])
def qualification_list_api(request):
    if request.method == "GET":
        return Response([qualification_body(q) for q in quals.qualification_list(request.user)[:200]])
    try:
        qualification = quals.qualification_create(request.user, request.data)
    except quals.QualificationInvalid as exc:
        return Response(exc.errors, status=status.HTTP_400_BAD_REQUEST)
    return Response(qualification_body(qualification), status=status.HTTP_201_CREATED)


@extend_schema(responses=OpenApiTypes.OBJECT)
@api_view(["GET"])
@permission_classes([IsRequester])
def qualification_detail_api(request, qualification_id: int):
    return Response(qualification_body(_own(request, qualification_id)))


def _members_api(request, qualification_id: int, change) -> Response:
    qualification = _own(request, qualification_id)
    try:
        usernames = quals.usernames_clean(request.data.get("usernames") if isinstance(request.data, dict) else None)
        changed = change(qualification, usernames)
    except quals.QualificationInvalid as exc:
        return Response(exc.errors, status=status.HTTP_400_BAD_REQUEST)
    return Response({"changed": changed})


@extend_schema(
    request=OpenApiTypes.OBJECT,
    responses=OpenApiTypes.OBJECT,
    description='{"usernames": [...]}: all or nothing; a 400 names each username that is not a worker.',
)
@api_view(["POST"])
@permission_classes([IsRequester])
def qualification_grant_api(request, qualification_id: int):
    return _members_api(request, qualification_id, quals.qualification_grant)


@extend_schema(
    request=OpenApiTypes.OBJECT,
    responses=OpenApiTypes.OBJECT,
    description='{"usernames": [...]}: all or nothing; a 400 names each username that is not a worker.',
)
@api_view(["POST"])
@permission_classes([IsRequester])
def qualification_revoke_api(request, qualification_id: int):
    return _members_api(request, qualification_id, quals.qualification_revoke)


@requester_required
def qualifications_page(request):
    """The requester's qualifications, and a CSV upload (column ``username``) to grant or revoke one."""
    errors = None
    if request.method == "POST":
        chosen = request.POST.get("qualification", "")
        qualification = _own(request, int(chosen) if chosen.isdigit() and len(chosen) < 12 else 0)
        upload = request.FILES.get("file")
        action = request.POST.get("action")
        try:
            if upload is None or action not in ("grant", "revoke"):
                raise quals.QualificationInvalid({"file": ["Choose a CSV file and grant or revoke."]})
            if upload.size > quals.MAX_CSV_BYTES:
                raise quals.QualificationInvalid(
                    {"file": [f"The file is larger than {quals.MAX_CSV_BYTES // 1024} KiB."]}
                )
            usernames, lines = quals.usernames_from_csv(upload.read(quals.MAX_CSV_BYTES + 1))
            change = quals.qualification_grant if action == "grant" else quals.qualification_revoke
            count = change(qualification, usernames, lines)
        except quals.QualificationInvalid as exc:
            errors = [f"{where}: {message}" for where, problems in exc.errors.items() for message in problems]
        else:
            done = "granted to" if action == "grant" else "revoked from"
            messages.success(request, f"{qualification.name}: {done} {count} worker(s).")
            return redirect("qualifications")
    return render(
        request,
        "requester/qualifications.html",
        {"qualifications": quals.qualification_list(request.user)[:200], "errors": errors},
        status=400 if errors else 200,
    )


@login_required
def qualification_take(request, qualification_id: int):
    """A worker takes a test: the questions as a form; after submitting, the score and feedback per question."""
    if not request.user.is_worker:
        raise PermissionDenied("This page is for workers.")
    qualification = get_object_or_404(Qualification, pk=qualification_id)
    context = {"qualification": qualification, "pass_percent": round(qualification.pass_mark * 100)}
    if request.method == "POST":
        answers = quals.attempt_answers(qualification, request.POST)
        try:
            attempt = quals.attempt_submit(request.user, qualification, answers)
        except quals.AttemptRefused as exc:
            context["refused"] = str(exc)
        else:
            context["attempt"] = attempt
            context["score_percent"] = round(attempt.score * 100)
            context["feedback"] = quals.feedback(qualification, attempt.answers)
    standing = quals.qualification_standing(request.user, qualification)
    context["standing"] = standing
    context["questions"] = [
        {"name": f"q{n}", "prompt": q["prompt"], "options": list(enumerate(q["options"]))}
        for n, q in enumerate(qualification.questions)
    ]
    return render(request, "worker/qualification.html", context)
