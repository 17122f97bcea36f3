from django.contrib import admin
from django.urls import path

from registry.views.endpoint import uftp_message

urlpatterns = [
    path("shapeshifter/api/v<int:major>/message", uftp_message, name="uftp-message"),
    path("admin/", admin.site.urls),
]
