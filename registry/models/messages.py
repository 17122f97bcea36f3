"""The message log: every UFTP message in and out, with its processing and delivery state."""

from django.db import models
from django.db.models import Q


class MessageDirection(models.TextChoices):
    INBOUND = "in", "Inbound"
    OUTBOUND = "out", "Outbound"


class MessageStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    PROCESSING = "processing", "Processing"
    PROCESSED = "processed", "Processed"
    RESPONSE_QUEUED = "response_queued", "Response queued"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


class Message(models.Model):
    Direction = MessageDirection
    Status = MessageStatus

    # States after which nothing more happens to a message by itself.
    FINAL_STATUSES = (Status.PROCESSED, Status.DELIVERED, Status.FAILED)

    direction = models.CharField(max_length=3, choices=Direction.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVED)
    message_type = models.CharField(max_length=64)
    version = models.CharField(max_length=16, blank=True, default="")
    # The major version of the URL path an inbound message arrived on.
    path_major = models.PositiveSmallIntegerField(null=True, blank=True)

    sender_domain = models.CharField(max_length=253)
    sender_role = models.CharField(max_length=3)
    recipient_domain = models.CharField(max_length=253)
    recipient_role = models.CharField(max_length=3)
    # The DSO or AGR on the other side (sender of an inbound, recipient of an outbound).
    participant = models.ForeignKey(
        "registry.Participant", null=True, blank=True, on_delete=models.PROTECT, related_name="messages"
    )

    message_id = models.CharField(max_length=36)
    conversation_id = models.CharField(max_length=36, blank=True, default="")
    reference_message_id = models.CharField(max_length=36, blank=True, default="")
    time_stamp = models.DateTimeField(null=True, blank=True)
    # An outbound response points at its inbound request; an inbound TestMessageResponse
    # points at the CRO's TestMessage it answers.
    request = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="responses"
    )

    signed_xml = models.TextField()
    inner_xml = models.TextField()
    # SHA-256 of the inner XML: tells "Already Submitted" from "Duplicate Identifier".
    body_digest = models.CharField(max_length=64)

    result = models.CharField(max_length=8, blank=True, default="")
    rejection_reason = models.TextField(blank=True, default="")

    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # Delivery of an outbound message stops retrying (and fails) after this moment.
    give_up_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["sender_domain", "message_id"], name="message_sender_msgid_idx"),
            models.Index(fields=["conversation_id"], name="message_conversation_idx"),
            models.Index(fields=["status", "updated_at"], name="message_status_updated_idx"),
            models.Index(fields=["message_type", "created_at"], name="message_type_created_idx"),
            # The drain's reads (registry.services.processing): the pending senders and a sender's
            # pending batch come from the pending rows only, however long the history.
            models.Index(
                fields=["sender_domain", "sender_role", "id"],
                condition=Q(direction="in", status__in=["received", "processing"]),
                name="message_inbound_pending_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(direction__in=MessageDirection.values), name="message_direction_is_in_or_out"
            ),
            models.CheckConstraint(
                condition=Q(status__in=MessageStatus.values),
                name="message_status_is_known",
            ),
            # The CRO never sends two messages with one MessageID.
            models.UniqueConstraint(
                fields=["message_id"],
                condition=Q(direction="out"),
                name="message_outbound_message_id_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.message_type} {self.message_id} ({self.get_direction_display()})"

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL_STATUSES
