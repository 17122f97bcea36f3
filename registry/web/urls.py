"""URLs of the administrators' web interface, mounted at the site root (namespace "web")."""

from django.urls import path

from registry.web.views import auth, dashboard, imports, messages, ops, participants, registry

app_name = "web"

urlpatterns = [
    path("login/", auth.LoginView.as_view(), name="login"),
    path("logout/", auth.LogoutView.as_view(), name="logout"),
    path("", dashboard.dashboard, name="dashboard"),
    # participants
    path("participants/", participants.participant_list, name="participant-list"),
    path("participants/add/", participants.participant_add, name="participant-add"),
    path("participants/<int:pk>/", participants.participant_detail, name="participant-detail"),
    path("participants/<int:pk>/edit/", participants.participant_edit, name="participant-edit"),
    path("participants/<int:pk>/bar/", participants.participant_bar, name="participant-bar"),
    path(
        "participants/<int:pk>/reactivate/",
        participants.participant_reactivate,
        name="participant-reactivate",
    ),
    path(
        "participants/<int:pk>/rotate-key/",
        participants.participant_key_rotate,
        name="participant-key-rotate",
    ),
    path(
        "participants/<int:pk>/rotate-key/complete/",
        participants.participant_key_rotation_complete,
        name="participant-key-rotation-complete",
    ),
    path(
        "participants/<int:pk>/time-stamp-reset/",
        participants.participant_time_stamp_reset,
        name="participant-time-stamp-reset",
    ),
    path(
        "participants/<int:pk>/test-message/",
        participants.participant_test_message_send,
        name="participant-test-message",
    ),
    path(
        "participants/<int:pk>/test-messages/",
        participants.participant_test_messages,
        name="participant-test-messages",
    ),
    # registry
    path("registry/", registry.registry_list, name="registry"),
    path("registry/export.csv", registry.registry_export, name="registry-export"),
    path(
        "registry/congestion-points/<int:pk>/",
        registry.congestion_point_detail,
        name="congestion-point-detail",
    ),
    path("registry/agr-portfolio/", registry.agr_portfolio, name="agr-portfolio"),
    path("registry/dso-portfolio/", registry.dso_portfolio, name="dso-portfolio"),
    path("registry/history/", registry.entity_history, name="entity-history"),
    # messages
    path("messages/", messages.message_list, name="message-list"),
    path("messages/<int:pk>/", messages.message_detail, name="message-detail"),
    path("messages/<int:pk>/retry/", messages.message_retry, name="message-retry"),
    path("messages/conversations/<str:conversation_id>/", messages.conversation, name="conversation"),
    path("failed-deliveries/", messages.failed_deliveries, name="failed-deliveries"),
    # the operational trail
    path("refusals/", ops.refusal_list, name="refusal-list"),
    path("audit/", ops.audit_list, name="audit-list"),
    # CSV import and export
    path("import/", imports.import_home, name="import"),
    path("import/sample.csv", imports.import_sample, name="import-sample"),
    path("import/<int:pk>/", imports.import_detail, name="import-detail"),
    path("import/<int:pk>/apply/", imports.import_apply, name="import-apply"),
    path("import/<int:pk>/status/", imports.import_status, name="import-status"),
]
