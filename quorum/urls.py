from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.authtoken.views import obtain_auth_token
from rest_framework.routers import DefaultRouter

from tasks.views_api import JobViewSet, UploadViewSet
from workers import views_api as workers_api

from .health import healthz

router = DefaultRouter()
router.register("jobs", JobViewSet, basename="job")
router.register("uploads", UploadViewSet, basename="upload")

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/", include(router.urls)),
    path("api/auth/token/", obtain_auth_token, name="api-token"),
    path("api/auth/signup/", workers_api.signup, name="api-signup"),
    path("api/me/", workers_api.me, name="api-me"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api-auth/", include("rest_framework.urls")),
]
