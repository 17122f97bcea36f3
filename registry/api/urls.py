"""The REST API, mounted at /api/ (see the module docstrings of views and filters).

/api/schema/ is the OpenAPI schema (YAML; `?format=json` for JSON), /api/docs/ drf-spectacular's
Swagger UI and /api/redoc/ its ReDoc, both served from our own static files
(drf-spectacular-sidecar), never a CDN. The documentation pages need a staff login (the
schema they read does): a visitor who is not logged in is sent to the login page.
"""

from functools import wraps

from django.conf import settings
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from registry.api import imports, ops, views
from registry.api.permissions import StaffReadAdminWrite
from registry.web.access import staff_required

app_name = "api"


def redoc_content_security_policy(view):
    """ReDoc styles its page with <style> elements it creates (styled-components) and searches in
    a blob: web worker: this one page allows those, still from 'self' only."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        response["Content-Security-Policy"] = (
            settings.CRO_CONTENT_SECURITY_POLICY.replace(
                "style-src 'self'", "style-src 'self' 'unsafe-inline'"
            )
            + "; worker-src 'self' blob:"
        )
        return response

    return wrapper


router = DefaultRouter()
router.include_format_suffixes = False
router.register("participants", views.ParticipantViewSet, basename="participant")
router.register("congestion-points", views.CongestionPointViewSet, basename="congestion-point")
router.register("agr-portfolios", views.AgrPortfolioViewSet, basename="agr-portfolio")
router.register(
    "history/congestion-points", views.CongestionPointVersionViewSet, basename="history-congestion-point"
)
router.register("history/memberships", views.MembershipViewSet, basename="history-membership")
router.register("history/representations", views.RepresentationViewSet, basename="history-representation")
router.register("messages", views.MessageViewSet, basename="message")
router.register("csv-imports", imports.CsvImportViewSet, basename="csv-import")
router.register("delivery-attempts", ops.DeliveryAttemptViewSet, basename="delivery-attempt")
router.register("refusals", ops.RefusalViewSet, basename="refusal")
router.register("audit", ops.AuditEntryViewSet, basename="audit-entry")

urlpatterns = [
    path("cro/", views.CroView.as_view(), name="cro"),
    path("schema/", SpectacularAPIView.as_view(permission_classes=[StaffReadAdminWrite]), name="schema"),
    path(
        "docs/",
        staff_required(
            SpectacularSwaggerSplitView.as_view(url_name="api:schema", template_name="api/swagger_ui.html")
        ),
        name="docs",
    ),
    path(
        "redoc/",
        staff_required(
            redoc_content_security_policy(
                SpectacularRedocView.as_view(url_name="api:schema", template_name="api/redoc.html")
            )
        ),
        name="redoc",
    ),
    *router.urls,
]
