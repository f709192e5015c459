from types import SimpleNamespace

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path
from django.utils import timezone
from django.views.decorators.cache import cache_control
from django.views.decorators.http import last_modified
from django.views.i18n import JavaScriptCatalog, set_language
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.routers import DefaultRouter

from tasks import views_pages as task_pages
from tasks.views_api import JobViewSet, UploadViewSet
from webhooks import views_api as webhooks_api
from webhooks import views_pages as webhook_pages
from workers import views_api as workers_api
from workers import views_pages as worker_pages
from workers import views_qualifications as qualification_views

from . import views_console, views_metrics
from .health import healthz


class FormatParameterNegotiation(DefaultContentNegotiation):
    """`?format=json|yaml` picks the schema's renderer. URL_FORMAT_OVERRIDE is off for the whole API because
    `format` is a parameter of the export endpoint, so the schema view turns it back on for itself."""

    settings = SimpleNamespace(URL_FORMAT_OVERRIDE="format")


router = DefaultRouter()
router.register("jobs", JobViewSet, basename="job")
router.register("uploads", UploadViewSet, basename="upload")
router.register("webhooks", webhooks_api.EndpointViewSet, basename="webhook")

# The browser's strings in the page's language. Pages ask for `/jsi18n/?l=<language>`, so a browser keeps one copy
# per language; the catalog changes only with a release (the process start time stands in for it).
_STARTED = timezone.now()
javascript_catalog = cache_control(max_age=86400, public=True)(
    last_modified(lambda request: _STARTED)(JavaScriptCatalog.as_view(domain="djangojs"))
)

urlpatterns = [
    path("jsi18n/", javascript_catalog, name="javascript-catalog"),
    path("i18n/setlang/", set_language, name="set_language"),
    path("healthz", healthz, name="healthz"),
    path("metrics", views_metrics.metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/qualifications/", qualification_views.qualification_list_api, name="api-qualifications"),
    path(
        "api/qualifications/<int:qualification_id>/",
        qualification_views.qualification_detail_api,
        name="api-qualification",
    ),
    path(
        "api/qualifications/<int:qualification_id>/grant/",
        qualification_views.qualification_grant_api,
        name="api-qualification-grant",
    ),
    path(
        "api/qualifications/<int:qualification_id>/revoke/",
        qualification_views.qualification_revoke_api,
        name="api-qualification-revoke",
    ),
    path("api/webhooks/deliveries/<int:delivery_id>/resend/", webhooks_api.delivery_resend, name="api-delivery-resend"),
    path("api/", include(router.urls)),
    path("api/auth/token/", workers_api.TokenView.as_view(), name="api-token"),
    path("api/auth/signup/", workers_api.signup, name="api-signup"),
    path("api/me/", workers_api.me, name="api-me"),
    path("api/me/statement/", workers_api.me_statement, name="api-me-statement"),
    path(
        "api/schema/", SpectacularAPIView.as_view(content_negotiation_class=FormatParameterNegotiation), name="schema"
    ),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api-auth/", include("rest_framework.urls")),
    # pages
    path("", task_pages.home, name="home"),
    path("login/", worker_pages.SigninView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("signup/", worker_pages.signup, name="signup"),
    path("password-reset/", worker_pages.PasswordResetView.as_view(), name="password_reset"),
    path("password-reset/sent/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "password-reset/<uidb64>/<token>/",
        worker_pages.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("password-reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("jobs/", task_pages.dashboard, name="dashboard"),
    path("jobs/new/", task_pages.job_new, name="job-new"),
    path("jobs/<int:job_id>/", task_pages.job_detail, name="job-detail"),
    path("jobs/<int:job_id>/edit/", task_pages.job_edit, name="job-edit"),
    re_path(
        r"^jobs/(?P<job_id>[0-9]+)/(?P<action>publish|pause|resume|cancel)/$",
        task_pages.job_transition,
        name="job-transition",
    ),
    path("jobs/<int:job_id>/results/", task_pages.job_results, name="job-results"),
    path("jobs/<int:job_id>/items/<int:item_id>/", task_pages.item_detail, name="item-detail"),
    path(
        "jobs/<int:job_id>/assignments/<int:assignment_id>/review/",
        task_pages.assignment_review_view,
        name="assignment-review",
    ),
    path("jobs/<int:job_id>/workers/<int:worker_id>/block/", task_pages.worker_block_view, name="job-worker-block"),
    path("account/tokens/", task_pages.tokens, name="tokens"),
    path("webhooks/", webhook_pages.webhooks_page, name="webhooks"),
    path("webhooks/new/", webhook_pages.webhook_create_view, name="webhook-create"),
    path("webhooks/deliveries/<int:delivery_id>/resend/", webhook_pages.delivery_resend_view, name="delivery-resend"),
    path("work/", worker_pages.work, name="work"),
    path("work/jobs/", worker_pages.job_board, name="work-jobs"),
    path(
        "work/qualifications/<int:qualification_id>/", qualification_views.qualification_take, name="qualification-take"
    ),
    path("qualifications/", qualification_views.qualifications_page, name="qualifications"),
    path("work/statement/", worker_pages.statement, name="statement"),
    path("jobs/<int:job_id>/workers/<int:worker_id>/bonus/", task_pages.worker_bonus_view, name="job-worker-bonus"),
    path("console/", views_console.operations, name="console"),
    path("console/operations.json", views_console.operations_json, name="console-json"),
    path("console/payouts/", views_console.payouts, name="console-payouts"),
    path("console/payouts/<int:batch_id>.csv", views_console.payout_csv, name="console-payout-csv"),
]
