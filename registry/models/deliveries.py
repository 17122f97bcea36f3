"""The delivery attempt log: one row per POST of an outbound message to its recipient."""

from django.db import models


class DeliveryAttempt(models.Model):
    class Outcome(models.TextChoices):
        DELIVERED = "delivered", "Delivered"
        RETRY = "retry", "Will be retried"
        FAILED = "failed", "Failed"

    message = models.ForeignKey(
        "registry.Message", on_delete=models.CASCADE, related_name="delivery_attempts"
    )
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    duration_seconds = models.FloatField()
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    # The exception class when no HTTP answer came (ConnectionError, Timeout, ...).
    error_class = models.CharField(max_length=64, blank=True, default="")
    summary = models.CharField(max_length=600, blank=True, default="")
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["message", "number", "id"]
        indexes = [models.Index(fields=["message", "number"], name="delivery_attempt_message_idx")]

    def __str__(self) -> str:
        return f"attempt {self.number} of message {self.message_id}: {self.outcome}"
