from django.contrib import admin
from django.urls import include, path, re_path

from registry.views import health
from registry.views.endpoint import uftp_message

urlpatterns = [
    # Any version segment: the view serves the version table's paths and answers 400 to others.
    re_path(r"^shapeshifter/api/[^/]+/message$", uftp_message, name="uftp-message"),
    path("health/live", health.live, name="health-live"),
    path("health/ready", health.ready, name="health-ready"),
    path("metrics", health.metrics, name="metrics"),
    path("api/", include("registry.api.urls")),
    path("django-admin/", admin.site.urls),
    path("", include("registry.web.urls")),
]
