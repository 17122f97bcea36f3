"""Requests the UFTP endpoint refused, aggregated so that a flood cannot fill the database."""

from django.db import models


class RefusalCount(models.Model):
    """How many requests were refused in one minute for one (claimed sender, client address,
    status, kind of reason). Every refusal is an upsert of one row; a flood of distinct
    claimed senders is folded into an overflow row per minute (services.refusals)."""

    REASON_MAX_LENGTH = 300
    KIND_MAX_LENGTH = 100

    minute = models.DateTimeField()
    # What the request claimed (SenderDomain / SenderRole of its SignedMessage); empty when
    # it was refused before it could be read, or when folded into the overflow row.
    sender_domain = models.CharField(max_length=253, blank=True, default="")
    sender_role = models.CharField(max_length=3, blank=True, default="")
    client_address = models.CharField(max_length=45, blank=True, default="")
    status = models.PositiveSmallIntegerField()
    # The reason without its variable part ("signature does not verify"), the grouping key.
    reason_kind = models.CharField(max_length=KIND_MAX_LENGTH)
    # The full reason of the last refusal counted here, cut to REASON_MAX_LENGTH.
    last_reason = models.CharField(max_length=REASON_MAX_LENGTH)
    count = models.PositiveIntegerField(default=0)
    first_at = models.DateTimeField()
    last_at = models.DateTimeField()

    class Meta:
        ordering = ["-minute", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["minute", "sender_domain", "sender_role", "client_address", "status", "reason_kind"],
                name="refusal_count_key",
            )
        ]
        indexes = [models.Index(fields=["sender_domain", "sender_role", "minute"], name="refusal_sender_idx")]

    def __str__(self) -> str:
        return f"{self.count} × {self.status} {self.reason_kind} at {self.minute:%Y-%m-%d %H:%M}"
