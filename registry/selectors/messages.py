"""Reads of the message log: lists, conversations, deliveries to retry, messages stuck, signatures.

Lists are lazy querysets with their select_related, so a page costs a fixed number of SQL queries.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from cro.signing import cro_public_key
from registry.models import Message, Participant
from registry.selectors.market_days import market_day_bounds
from registry.uftp import codec, errors

# The (large) XML columns, read only when asked for.
MESSAGE_XML_FIELDS = ("signed_xml", "inner_xml")


@dataclass(frozen=True, kw_only=True)
class MessageFilter:
    direction: str = ""
    message_type: str = ""
    participant: Participant | None = None
    status: str = ""
    result: str = ""
    day: dt.date | None = None
    q: str = ""  # MessageID or ConversationID (or part of one)
    # Stored in [created_after, created_before): the dashboard chart's bar of one hour.
    created_after: dt.datetime | None = None
    created_before: dt.datetime | None = None


def message_list(*, selection: MessageFilter | None = None, include_xml: bool = True) -> QuerySet[Message]:
    """The message log, newest first, narrowed by `selection`; the XML columns only if `include_xml`."""
    selection = selection or MessageFilter()
    queryset = Message.objects.select_related("participant").order_by("-created_at", "-id")
    if not include_xml:
        queryset = queryset.defer(*MESSAGE_XML_FIELDS)
    if selection.direction:
        queryset = queryset.filter(direction=selection.direction)
    if selection.message_type:
        queryset = queryset.filter(message_type=selection.message_type)
    if selection.participant is not None:
        queryset = queryset.filter(participant=selection.participant)
    if selection.status:
        queryset = queryset.filter(status=selection.status)
    if selection.result:
        queryset = queryset.filter(result=selection.result)
    if selection.day is not None:
        start, end = market_day_bounds(selection.day)
        queryset = queryset.filter(created_at__gte=start, created_at__lt=end)
    if selection.created_after is not None:
        queryset = queryset.filter(created_at__gte=selection.created_after)
    if selection.created_before is not None:
        queryset = queryset.filter(created_at__lt=selection.created_before)
    if selection.q:
        queryset = queryset.filter(
            Q(message_id__icontains=selection.q) | Q(conversation_id__icontains=selection.q)
        )
    return queryset


def message_types() -> list[str]:
    """Every message type the CRO reads or writes, for the filter."""
    return sorted(codec.ALL_MESSAGE_TYPES)


def message_get(*, pk: int) -> Message | None:
    return Message.objects.select_related("participant", "request").filter(pk=pk).first()


def message_responses(*, message: Message) -> list[Message]:
    return list(message.responses.select_related("participant").order_by("created_at", "id"))


def conversation_messages(*, conversation_id: str) -> list[Message]:
    """Every message of one conversation, oldest first (1 query)."""
    return list(
        Message.objects.filter(conversation_id=conversation_id)
        .select_related("participant", "request")
        .order_by("created_at", "id")
    )


def stuck_message_list(*, now: dt.datetime | None = None) -> QuerySet[Message]:
    """Messages left in a non-final state for longer than the sweep waits before dispatching them
    again (settings.CRO_SWEEP_AFTER_SECONDS): the worker or the broker may be down."""
    now = now or timezone.now()
    return (
        Message.objects.exclude(status__in=Message.FINAL_STATUSES)
        .filter(updated_at__lt=now - dt.timedelta(seconds=settings.CRO_SWEEP_AFTER_SECONDS))
        .select_related("participant")
        .order_by("updated_at", "id")
    )


def failed_delivery_list() -> QuerySet[Message]:
    """Outbound messages whose delivery failed for good: they wait for an administrator's retry."""
    return (
        Message.objects.filter(direction=Message.Direction.OUTBOUND, status=Message.Status.FAILED)
        .select_related("participant", "request")
        .order_by("-updated_at", "-id")
    )


def failed_processing_list() -> QuerySet[Message]:
    """Inbound messages given up on after CRO_MAX_PROCESSING_ATTEMPTS (poison messages)."""
    return (
        Message.objects.filter(direction=Message.Direction.INBOUND, status=Message.Status.FAILED)
        .select_related("participant")
        .order_by("-updated_at", "-id")
    )


@dataclass(frozen=True, kw_only=True)
class SignatureStatus:
    valid: bool
    detail: str


def message_signature_status(*, message: Message) -> SignatureStatus:
    """Verify the stored SignedMessage again: inbound with the participant's keys, outbound with the CRO's."""
    try:
        envelope = codec.parse_signed_message(
            message.signed_xml.encode("utf-8"), max_bytes=settings.CRO_MAX_MESSAGE_BYTES
        )
    except errors.UFTPError as exc:
        return SignatureStatus(valid=False, detail=f"the stored SignedMessage cannot be read: {exc}")
    if message.direction == Message.Direction.OUTBOUND:
        candidates = [("the CRO's current key", cro_public_key())]
    elif message.participant is None:
        return SignatureStatus(valid=False, detail="no participant record to take the sender's keys from")
    else:
        candidates = [("the participant's current key", message.participant.public_key)]
        if message.participant.public_key_previous:
            candidates.append(("the participant's previous key", message.participant.public_key_previous))
    if envelope.sender_domain != message.sender_domain or envelope.sender_role != message.sender_role:
        return SignatureStatus(
            valid=False,
            detail=f"the envelope names {envelope.sender_domain} ({envelope.sender_role}), "
            f"not {message.sender_domain} ({message.sender_role})",
        )
    for label, key in candidates:
        try:
            inner = codec.open_body(envelope.body, [key])
        except errors.UFTPError:
            continue
        if inner != message.inner_xml.encode("utf-8"):
            return SignatureStatus(
                valid=False, detail=f"verifies with {label}, but the signed body differs from the stored XML"
            )
        return SignatureStatus(valid=True, detail=f"verifies with {label}")
    return SignatureStatus(
        valid=False, detail=f"does not verify with {' or '.join(label for label, _ in candidates)}"
    )
