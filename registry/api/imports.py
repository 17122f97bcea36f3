"""CSV import of a DSO's portfolio through the API: upload (a dry-run preview, nothing changes),
read the preview (summary, rejections with their CSV lines, the changes), then apply. The same
services as the web pages (registry.services.csv_io); the operator role imports, as on the web."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from registry import roles
from registry.api.views import ApiMixin, Conflict
from registry.models import CsvImport, Participant
from registry.selectors import imports as import_selectors
from registry.services import csv_format, csv_io, csv_review

MAX_UPLOAD_BYTES = 50 * 1024 * 1024


class CsvUploadSerializer(serializers.Serializer):
    dso = serializers.PrimaryKeyRelatedField(
        queryset=Participant.objects.filter(role=Participant.Role.DSO),
        help_text="id of the DSO whose portfolio the file holds",
    )
    file = serializers.FileField(
        help_text="UTF-8 CSV with the header congestion_point, cp_start, cp_end, mutex_offers_supported, "
        "day_ahead_redispatch_by, intraday_redispatch_by, connection, connection_start, connection_end "
        "(an optional first column dso must name the DSO); comma- or semicolon-separated"
    )


class DiffCountsSerializer(serializers.Serializer):
    new = serializers.IntegerField()
    changed = serializers.IntegerField()
    removed = serializers.IntegerField()
    unchanged = serializers.IntegerField()


class RejectionSerializer(serializers.Serializer):
    lines = serializers.ListField(
        child=serializers.IntegerField(), help_text="CSV lines it is about (1-based)"
    )
    reason = serializers.CharField()


class DiffRowSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["new", "changed", "removed", "other"])
    entity = serializers.CharField(help_text="congestion point or connection")
    address = serializers.CharField()
    congestion_point = serializers.CharField()
    now = serializers.CharField(help_text="the period or attributes after the import")
    was = serializers.CharField(help_text="before the import (changed and removed rows)")
    lines = serializers.ListField(child=serializers.IntegerField())


class CsvImportSerializer(serializers.ModelSerializer):
    dso_domain = serializers.CharField(source="dso.domain", read_only=True)
    status_display = serializers.SerializerMethodField(
        help_text='e.g. "Rejected", "Applying… 30%", "Applied"'
    )
    preview_accepted = serializers.BooleanField(read_only=True)

    class Meta:
        model = CsvImport
        fields = [
            "id",
            "dso",
            "dso_domain",
            "file_name",
            "status",
            "status_display",
            "preview_accepted",
            "progress",
            "phase",
            "error",
            "row_count",
            "congestion_point_count",
            "connection_count",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_status_display(self, csv_import: CsvImport) -> str:
        return import_selectors.csv_import_status_badge(csv_import=csv_import).text


class ReviewSummarySerializer(serializers.Serializer):
    congestion_points = DiffCountsSerializer(help_text="changed: other attributes")
    connections = DiffCountsSerializer(help_text="per (congestion point, connection) of the file")


class CsvImportDetailSerializer(CsvImportSerializer):
    """One import with its review: the counts and the rejections (the changes: .../changes/)."""

    summary = ReviewSummarySerializer(source="review", read_only=True)
    rejections = RejectionSerializer(source="review.rejections", many=True, read_only=True)

    class Meta(CsvImportSerializer.Meta):
        fields = [*CsvImportSerializer.Meta.fields, "summary", "rejections"]
        read_only_fields = fields


class RowErrorSerializer(serializers.Serializer):
    line = serializers.IntegerField(help_text="1-based; 0: the file as a whole")
    column = serializers.CharField()
    message = serializers.CharField()


# A file that is not a readable portfolio; other refusals (no such DSO, no file) are field errors.
CSV_INVALID_RESPONSE = inline_serializer(
    "CsvInvalid",
    fields={
        "file": serializers.ListField(child=serializers.CharField(), required=False),
        "row_errors": RowErrorSerializer(many=True, required=False),
        "dso": serializers.ListField(child=serializers.CharField(), required=False),
    },
)


def _with_review(csv_import: CsvImport) -> CsvImport:
    applied = csv_import.status in (CsvImport.Status.APPLIED, CsvImport.Status.REJECTED)
    csv_import.review = csv_review.csv_import_review(
        csv_text=csv_import.csv_text,
        changes=csv_import.result_changes if applied else csv_import.preview_changes,
        reasons=csv_import.result_reasons if applied else csv_import.preview_reasons,
    )
    return csv_import


@extend_schema_view(
    list=extend_schema(summary="CSV imports of DSO portfolios, newest first"),
    retrieve=extend_schema(
        summary="One CSV import: its state, the preview's counts and its rejections with their CSV lines"
    ),
)
class CsvImportViewSet(ApiMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Upload a CSV (a dry-run preview: nothing changes), read the preview, then apply it.

    The apply runs in a worker: poll the import until `status` is final (applied, rejected when
    the registry changed since the preview, failed).
    """

    serializer_class = CsvImportSerializer
    # Uploading and applying are the operator's, as in the web interface (registry/roles.py).
    write_permissions = {"create": roles.IMPORT_CSV, "apply": roles.IMPORT_CSV}
    schema_conflict_actions = ("apply",)

    def get_queryset(self):
        return import_selectors.csv_import_list()

    parser_classes = [MultiPartParser, FormParser]

    def retrieve(self, request: Request, pk=None) -> Response:
        csv_import = import_selectors.csv_import_get(pk=self.get_object().pk)
        return Response(CsvImportDetailSerializer(_with_review(csv_import)).data)

    @extend_schema(
        summary="Upload a CSV: a dry-run preview of what it would change (nothing changes yet)",
        request={"multipart/form-data": CsvUploadSerializer},
        responses={
            201: CsvImportDetailSerializer,
            400: CSV_INVALID_RESPONSE,
            415: OpenApiResponse(description="the body is not multipart/form-data a file can be read from"),
        },
        examples=[
            OpenApiExample(
                "a file with a bad row",
                response_only=True,
                status_codes=["400"],
                value={
                    "file": ["The CSV has 1 error(s); nothing was changed."],
                    "row_errors": [
                        {"line": 3, "column": "cp_start", "message": "'x' is not a date (YYYY-MM-DD)"}
                    ],
                },
            )
        ],
    )
    def create(self, request: Request) -> Response:
        upload = CsvUploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        file = upload.validated_data["file"]
        if file.size > MAX_UPLOAD_BYTES:
            raise ValidationError({"file": [f"the file is larger than {MAX_UPLOAD_BYTES} bytes"]})
        try:
            csv_import = csv_io.csv_import_preview(
                dso=upload.validated_data["dso"],
                data=file.read(),
                file_name=file.name or "",
                user=request.user,
            )
        except csv_format.CsvInvalid as exc:
            # A Response, not a ValidationError: that would turn the line numbers into strings.
            return Response(
                {
                    "file": [f"The CSV has {len(exc.row_errors)} error(s); nothing was changed."],
                    "row_errors": [
                        {"line": error.line, "column": error.column, "message": error.message}
                        for error in exc.row_errors
                    ],
                },
                status=status.HTTP_400_BAD_REQUEST,
            )
        except DjangoValidationError as exc:
            raise ValidationError({"dso": exc.messages}) from exc
        csv_import = import_selectors.csv_import_get(pk=csv_import.pk)
        return Response(
            CsvImportDetailSerializer(_with_review(csv_import)).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(
        summary="Apply a previewed import (queued for a worker; poll the import for its progress)",
        request=None,
        responses={202: CsvImportSerializer},
    )
    @action(detail=True, methods=["post"])
    def apply(self, request: Request, pk=None) -> Response:
        csv_import = self.get_object()
        try:
            csv_import = csv_io.csv_import_queue(csv_import=csv_import)
        except DjangoValidationError as exc:
            raise Conflict({"non_field_errors": exc.messages}) from exc
        return Response(CsvImportSerializer(csv_import).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="The changes of an import as diff rows (new, changed, removed), with their CSV lines",
        parameters=[
            OpenApiParameter(
                "kind", str, enum=["new", "changed", "removed"], description="only the rows of this kind"
            )
        ],
        responses={200: DiffRowSerializer(many=True)},
    )
    @action(detail=True, methods=["get"])
    def changes(self, request: Request, pk=None) -> Response:
        csv_import = _with_review(import_selectors.csv_import_get(pk=self.get_object().pk))
        # An empty ?kind= is refused like any other value outside the enum (the schema says so).
        kind = request.query_params.get("kind")
        if kind is not None and kind not in ("new", "changed", "removed"):
            raise ValidationError({"kind": ["kind must be new, changed or removed"]})
        rows = [row for row in csv_import.review.rows if kind is None or row.kind == kind]
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(DiffRowSerializer(page, many=True).data)
