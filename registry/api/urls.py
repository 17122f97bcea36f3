"""The REST API, mounted at /api/ (see the module docstrings of views, filters and docs)."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.routers import DefaultRouter

from registry.api import imports, ops, views
from registry.api.permissions import StaffReadAdminWrite

app_name = "api"

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
    path("docs/", views.DocsView.as_view(), name="docs"),
    *router.urls,
]
