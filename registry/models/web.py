"""State of the administrators' web interface: CSV imports and their progress."""

from django.conf import settings
from django.db import models
from django.db.models import Q


class CsvImportStatus(models.TextChoices):
    PREVIEWED = "previewed", "Previewed"
    QUEUED = "queued", "Queued"
    APPLYING = "applying", "Applying"
    APPLIED = "applied", "Applied"
    REJECTED = "rejected", "Rejected"
    FAILED = "failed", "Failed"


class CsvImport(models.Model):
    """One uploaded CSV of a DSO's congestion points and connections.

    Uploaded -> previewed (a dry run of the same service the UFTP path uses) -> queued -> applying
    -> applied (or rejected when the registry changed since the preview, or failed on an error).
    """

    Status = CsvImportStatus

    FINAL_STATUSES = (Status.APPLIED, Status.REJECTED, Status.FAILED)

    dso = models.ForeignKey(
        "registry.Participant",
        on_delete=models.PROTECT,
        related_name="csv_imports",
        limit_choices_to={"role": "DSO"},
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    file_name = models.CharField(max_length=255, blank=True, default="")
    # The uploaded text, parsed again when applied (so the apply builds its own TimeStamp).
    csv_text = models.TextField()
    row_count = models.PositiveIntegerField(default=0)
    congestion_point_count = models.PositiveIntegerField(default=0)
    connection_count = models.PositiveIntegerField(default=0)

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PREVIEWED)
    preview_reasons = models.JSONField(default=list, blank=True)
    preview_changes = models.JSONField(default=list, blank=True)
    result_reasons = models.JSONField(default=list, blank=True)
    result_changes = models.JSONField(default=list, blank=True)
    # Progress of the apply, 0-100, with the step it is at.
    progress = models.PositiveSmallIntegerField(default=0)
    phase = models.CharField(max_length=200, blank=True, default="")
    error = models.TextField(blank=True, default="")

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=CsvImportStatus.values),
                name="csv_import_status_is_known",
            ),
            models.CheckConstraint(condition=Q(progress__lte=100), name="csv_import_progress_at_most_100"),
        ]

    def __str__(self) -> str:
        return f"CSV import {self.pk} for {self.dso_id} ({self.status})"

    @property
    def preview_accepted(self) -> bool:
        """The dry run found nothing to refuse."""
        return not self.preview_reasons

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL_STATUSES
