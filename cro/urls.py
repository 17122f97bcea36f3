from django.contrib import admin
from django.urls import include, path

from registry.views.endpoint import uftp_message

urlpatterns = [
    path("shapeshifter/api/v<int:major>/message", uftp_message, name="uftp-message"),
    path("api/", include("registry.api.urls")),
    path("django-admin/", admin.site.urls),
    path("", include("registry.web.urls")),
]
