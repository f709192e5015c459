"""Requester REST API: thin views (auth, validation, one service call, output)."""

import csv
import io

from django.conf import settings
from django.db import transaction
from django.http import HttpResponse, StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FileUploadParser, MultiPartParser
from rest_framework.response import Response

from quorum.money import amount_text, currency
from quorum.request_bodies import MULTIPART_OVERHEAD
from quorum.throttling import ActionRateThrottle
from workers import ledger

from . import exports, media, rankings, selectors, services
from .aggregation.reliability import gold_reliability
from .automation.background import automation_run_job
from .automation.selectors import automation_summary
from .buckets.exports import bucket_export_create
from .buckets.imports import bucket_import_create
from .intake import IntakeError, UploadTooLarge
from .intake.filenames import clean_filename
from .models import AutomationStatus, Item, Job, MediaFile, Upload
from .permissions import IsRequester
from .serializers import (
    BonusSerializer,
    BucketExportOutSerializer,
    BucketExportSerializer,
    BucketImportOutSerializer,
    BucketImportSerializer,
    BulkReviewSerializer,
    ItemResultSerializer,
    JobSerializer,
    MediaFileSerializer,
    UploadSerializer,
)


class RawFileParser(FileUploadParser):
    """The request body is the file itself (``curl --data-binary @items.csv``)."""

    media_type = "*/*"

    def get_filename(self, stream, media_type, parser_context):
        request = parser_context["request"]
        return request.query_params.get("filename") or super().get_filename(stream, media_type, parser_context)


class JobViewSet(viewsets.ModelViewSet):
    serializer_class = JobSerializer
    permission_classes = [IsRequester]
    throttle_classes = [*viewsets.ModelViewSet.throttle_classes, ActionRateThrottle]
    throttle_scopes = {
        "create": "job_create",
        "uploads": "upload",
        "media": "media_upload",
        "automation": "automation_run",
        "imports": "upload",
        "exports": "upload",
    }

    def get_queryset(self):
        # A requester sees only their own jobs; another requester's job is a 404, not a 403. Staff may open any
        # job, as on the pages, and list their own.
        if self.action == "list":
            return Job.objects.filter(owner=self.request.user)
        return selectors.jobs_visible_to(self.request.user)

    def perform_create(self, serializer):
        serializer.instance = services.job_create(owner=self.request.user, **serializer.validated_data)

    def destroy(self, request, *args, **kwargs):
        try:
            services.job_delete(self.get_object())
        except services.JobStateError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(status=status.HTTP_204_NO_CONTENT)

    def perform_update(self, serializer):
        job = services.job_settings_saved(serializer.save())
        if job.automation_enabled and job.automation_status == AutomationStatus.UNSUPPORTED:
            # The sweep passes unsupported jobs by; a change of text field or question may have fixed this one.
            transaction.on_commit(lambda: automation_run_job.delay(job.pk))

    def _transition(self, service):
        try:
            job = service(self.get_object())
        except services.JobStateError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(JobSerializer(job).data)

    @action(detail=True, methods=["post"])
    def publish(self, request, pk=None):
        return self._transition(services.job_publish)

    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        return self._transition(services.job_pause)

    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        return self._transition(services.job_resume)

    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        return self._transition(services.job_cancel)

    @extend_schema(request=BulkReviewSerializer, responses={200: dict})
    @action(detail=True, methods=["post"])
    def review(self, request, pk=None):
        """Accept or reject every pending answer of one worker on this job, or of the items a results filter shows.
        Answers already reviewed stay as they are. Returns {decision, preview, assignments, answers, microtasks,
        amount}; with ``"preview": true`` nothing changes and the counts are what the review would move."""
        job = self.get_object()
        serializer = BulkReviewSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        pending = selectors.assignments_pending_review(
            job, worker_id=data.get("worker"), filters=serializer.item_filters()
        )
        totals = services.assignments_review_bulk(job, data["decision"] == "accept", pending, preview=data["preview"])
        return Response(totals)

    @extend_schema(request=None, responses={200: dict, 202: dict})
    @action(detail=True, methods=["get", "post"])
    def automation(self, request, pk=None):
        """GET: what the machine has done on the job. POST: run automation for the job now."""
        job = self.get_object()
        if request.method == "POST":
            if not job.automation_enabled:
                return Response({"detail": "automation is off for this job"}, status=status.HTTP_409_CONFLICT)
            if job.status != Job.Status.OPEN:
                return Response(
                    {"detail": f"the machine answers only while the job is open; it is {job.status}"},
                    status=status.HTTP_409_CONFLICT,
                )
            automation_run_job.delay(job.pk)
            return Response(automation_summary(job), status=status.HTTP_202_ACCEPTED)
        return Response(automation_summary(job))

    @extend_schema(
        request={
            "multipart/form-data": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}
        },
        responses={202: UploadSerializer, 200: UploadSerializer(many=True)},
        parameters=[OpenApiParameter("filename", str, description="File name for a raw-body upload")],
    )
    @action(detail=True, methods=["get", "post"], parser_classes=[MultiPartParser, RawFileParser])
    def uploads(self, request, pk=None):
        job = self.get_object()
        if request.method == "GET":
            return Response(UploadSerializer(job.uploads.all(), many=True).data)
        limit = settings.QUORUM_MAX_UPLOAD_BYTES
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0  # the copy below still stops at the limit
        if declared > limit + MULTIPART_OVERHEAD:
            too_large = UploadTooLarge(
                f"the file is larger than the limit of {limit} bytes",
                file=clean_filename(request.query_params.get("filename")),
            )
            return Response(
                {"detail": str(too_large), "error": too_large.as_dict()},
                status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            )
        filename = None
        if not request.content_type.startswith("multipart/"):
            filename = RawFileParser().get_filename(None, None, {"request": request, "kwargs": {}})
        if filename:
            # The body is the file: copy it from the request stream once, not through a parser's temporary file.
            source = request.stream or io.BytesIO()
        else:
            upload_file = request.data.get("file")
            if upload_file is None:
                raise ValidationError({"file": "send the file as multipart field 'file' or as the request body"})
            filename = upload_file.name
            # Multipart files are already on disk: move them rather than copy.
            path = getattr(upload_file, "temporary_file_path", None)
            source = path() if path else upload_file
        try:
            upload = services.upload_create(job=job, filename=filename, source=source)
        except UploadTooLarge as exc:
            return Response(
                {"detail": str(exc), "error": exc.as_dict()}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
            )
        except IntakeError as exc:
            return Response({"detail": str(exc), "error": exc.as_dict()}, status=status.HTTP_400_BAD_REQUEST)
        except services.JobStateError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(UploadSerializer(upload).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        request={
            "multipart/form-data": {
                "type": "object",
                "properties": {
                    "file": {"type": "array", "items": {"type": "string", "format": "binary"}},
                    "name": {"type": "string", "description": "The path items name the file by (one file only)"},
                },
            }
        },
        responses={201: MediaFileSerializer(many=True), 200: MediaFileSerializer(many=True)},
        parameters=[OpenApiParameter("name", str, description="The path items name a raw-body file by")],
    )
    @action(detail=True, methods=["get", "post"], parser_classes=[MultiPartParser, RawFileParser])
    def media(self, request, pk=None):
        """GET: the job's media files, a page at a time. POST: keep media files (images, audio, video) that the
        data will name: the request body with ``?name=images/cat.png``, or multipart fields ``file`` (the part's
        file name, or one ``name`` field for one file). All of them are kept, or none."""
        job = self.get_object()
        if request.method == "GET":
            page = self.paginate_queryset(MediaFile.objects.filter(job=job).order_by("name"))
            return self.get_paginated_response(MediaFileSerializer(page, many=True).data)
        name = request.query_params.get("name") or request.query_params.get("filename")
        if not request.content_type.startswith("multipart/"):
            if not name:
                raise ValidationError({"name": "name the file: ?name=<path that the data uses>"})
            files = [(name, request.stream or io.BytesIO())]
        else:
            parts = request.FILES.getlist("file")
            if not parts:
                raise ValidationError({"file": "send the files as multipart fields 'file' or one file as the body"})
            given = request.data.get("name")
            if given and len(parts) > 1:
                raise ValidationError({"name": "a name goes with one file only; several take their own names"})
            files = [(given or part.name, part) for part in parts]
        try:
            stored = media.media_store(job, files)
        except UploadTooLarge as exc:
            return Response(
                {"detail": str(exc), "error": exc.as_dict()}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
            )
        except IntakeError as exc:
            return Response({"detail": str(exc), "error": exc.as_dict()}, status=status.HTTP_400_BAD_REQUEST)
        new = any(is_new for _, is_new in stored)
        return Response(
            MediaFileSerializer([record for record, _ in stored], many=True).data,
            status=status.HTTP_201_CREATED if new else status.HTTP_200_OK,
        )

    @extend_schema(responses={200: dict})
    @action(detail=True, methods=["get"])
    def progress(self, request, pk=None):
        """The job's status and counts without gold: items, items_done, microtasks, microtasks_done, answers,
        answers_remaining, results (items whose results are written), answers_per_minute, workers_active."""
        return Response(selectors.job_progress(self.get_object()))

    @extend_schema(responses=ItemResultSerializer(many=True))
    @extend_schema(request=BonusSerializer, responses={201: dict})
    @action(detail=True, methods=["post"], url_path=r"workers/(?P<worker_id>[0-9]+)/bonus")
    def bonus(self, request, pk=None, worker_id=None):
        """Pay a bonus to a worker who answered on this job (the job's owner only): amount and reason."""
        job = self.get_object()
        serializer = BonusSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            entry = ledger.bonus_pay(
                job=job, worker_id=int(worker_id), paid_by=request.user, **serializer.validated_data
            )
        except PermissionError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_403_FORBIDDEN)
        except ledger.LedgerRefused as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        body = {"id": entry.pk, "worker_id": entry.worker_id, "job_id": job.pk, "amount": amount_text(entry.amount)}
        return Response({**body, "currency": currency(), "reason": entry.note}, status=status.HTTP_201_CREATED)

    @action(detail=True, methods=["get"])
    def items(self, request, pk=None):
        job = self.get_object()
        queryset = Item.objects.filter(job=job).order_by("position")
        page = self.paginate_queryset(queryset)
        serializer = ItemResultSerializer(page, many=True, context={"media": media.viewer_media(job)})
        return self.get_paginated_response(serializer.data)

    @extend_schema(responses={200: dict})
    @action(detail=True, methods=["get"])
    def reliability(self, request, pk=None):
        """Stated confidence against observed accuracy on gold items, per categorical question."""
        return Response(gold_reliability(self.get_object()))

    @extend_schema(
        parameters=[
            OpenApiParameter("method", str, enum=list(rankings.METHODS), description="noisy_bt (default) or bt"),
        ],
        responses={200: dict},
    )
    @action(detail=True, methods=["get"])
    def ranking(self, request, pk=None):
        """Each group's candidates ranked from the pairwise answers (docs/ANNOTATION.md)."""
        job = self.get_object()
        method = request.query_params.get("method") or rankings.DEFAULT_METHOD
        try:
            groups = rankings.job_rankings(job, method)
        except rankings.RankingError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        return Response(rankings.rankings_json(method, groups))

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "format",
                str,
                enum=["csv", "jsonl", "ranking"],
                description="csv (default), jsonl, or ranking (a pairwise job's rankings as CSV)",
            ),
            OpenApiParameter("method", str, enum=list(rankings.METHODS), description="format=ranking: the method"),
            OpenApiParameter(
                "spreadsheet",
                bool,
                description="CSV for a spreadsheet: text cells starting with = + - @ get a leading ' so none runs",
            ),
        ],
        responses={(200, "text/csv"): str, (200, "application/x-ndjson"): str},
    )
    @action(detail=True, methods=["get"], url_path="export")
    def export(self, request, pk=None):
        job = self.get_object()
        kind = request.query_params.get("format") or request.query_params.get("as") or "csv"
        spreadsheet = request.query_params.get("spreadsheet") in ("1", "true")
        if kind == "ranking":
            return self._ranking_csv(job, request.query_params.get("method") or rankings.DEFAULT_METHOD, spreadsheet)
        if kind not in ("csv", "jsonl"):
            raise ValidationError({"format": "use csv, jsonl or ranking"})
        chunks = exports.export_csv(job, spreadsheet) if kind == "csv" else exports.export_jsonl(job)
        content_type = "text/csv; charset=utf-8" if kind == "csv" else "application/x-ndjson"
        response = StreamingHttpResponse(exports.iterate_in_thread(chunks), content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="job-{job.pk}-results.{kind}"'
        return response

    @extend_schema(request=BucketImportSerializer, responses={202: BucketImportOutSerializer, 200: dict})
    @action(detail=True, methods=["get", "post"])
    def imports(self, request, pk=None):
        """GET: the job's bucket imports. POST: fill the job from the objects under a bucket prefix (kind ``rows``:
        its CSV and JSON Lines files, as uploads; ``media``: its media files, one item each). docs/STORAGE.md"""
        job = self.get_object()
        if request.method == "GET":
            return Response({"results": BucketImportOutSerializer(job.bucket_imports.all()[:100], many=True).data})
        serializer = BucketImportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            imported = bucket_import_create(job=job, **serializer.validated_data)
        except services.JobStateError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(BucketImportOutSerializer(imported).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={200: BucketImportOutSerializer}, operation_id="jobs_bucket_import_retrieve")
    @action(detail=True, methods=["get"], url_path=r"imports/(?P<import_id>\d+)")
    def import_detail(self, request, pk=None, import_id=None):
        job = self.get_object()
        imported = job.bucket_imports.filter(pk=import_id).first()
        if imported is None:
            return Response({"detail": "no such import"}, status=status.HTTP_404_NOT_FOUND)
        return Response(BucketImportOutSerializer(imported).data)

    @extend_schema(request=BucketExportSerializer, responses={202: BucketExportOutSerializer, 200: dict})
    @action(detail=True, methods=["get", "post"])
    def exports(self, request, pk=None):
        """GET: the job's bucket exports. POST: write the results to ``<prefix><job id>-results.<csv|jsonl>`` in a
        bucket, now (``when``: ``now``) or once the job is done (``done``). docs/STORAGE.md"""
        job = self.get_object()
        if request.method == "GET":
            return Response({"results": BucketExportOutSerializer(job.bucket_exports.all()[:100], many=True).data})
        serializer = BucketExportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        fmt, when = data.pop("format"), data.pop("when")
        export = bucket_export_create(job=job, fmt=fmt, when_done=when == "done", **data)
        return Response(BucketExportOutSerializer(export).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={200: BucketExportOutSerializer}, operation_id="jobs_bucket_export_retrieve")
    @action(detail=True, methods=["get"], url_path=r"exports/(?P<export_id>\d+)")
    def export_detail(self, request, pk=None, export_id=None):
        job = self.get_object()
        export = job.bucket_exports.filter(pk=export_id).first()
        if export is None:
            return Response({"detail": "no such export"}, status=status.HTTP_404_NOT_FOUND)
        return Response(BucketExportOutSerializer(export).data)

    def _ranking_csv(self, job, method, spreadsheet):
        try:
            groups = rankings.job_rankings(job, method)
        except rankings.RankingError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        out = io.StringIO()
        if spreadsheet:
            out.write(exports.UTF8_BOM)
        csv.writer(out, lineterminator="\n").writerows(rankings.rankings_csv_rows(groups, spreadsheet))
        response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="job-{job.pk}-ranking.csv"'
        return response


class UploadViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = UploadSerializer
    permission_classes = [IsRequester]

    def get_queryset(self):
        return Upload.objects.filter(job__in=selectors.jobs_visible_to(self.request.user))
