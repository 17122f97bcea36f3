"""Reads of the participants: the lists, what each holds in the registry and the log."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Prefetch, Q, QuerySet

from registry.models import CongestionPoint, Message, Participant, Representation
from registry.uftp import messages as uftp


def participant_list(*, role: str = "", status: str = "", q: str = "") -> QuerySet[Participant]:
    queryset = Participant.objects.order_by("domain", "role")
    if role:
        queryset = queryset.filter(role=role)
    if status:
        queryset = queryset.filter(status=status)
    if q:
        queryset = queryset.filter(Q(domain__icontains=q) | Q(endpoint_url__icontains=q))
    return queryset


@dataclass(frozen=True, kw_only=True)
class ParticipantSummary:
    congestion_points: int
    represented_connections: int
    messages_in: int
    messages_out: int


def participant_summary(*, participant: Participant) -> ParticipantSummary:
    """What the participant holds in the registry and the log (3 queries)."""
    messages = Message.objects.filter(participant=participant).aggregate(
        inbound=Count("pk", filter=Q(direction=Message.Direction.INBOUND)),
        outbound=Count("pk", filter=Q(direction=Message.Direction.OUTBOUND)),
    )
    return ParticipantSummary(
        congestion_points=CongestionPoint.objects.filter(dso=participant).count()
        if participant.role == Participant.Role.DSO
        else 0,
        represented_connections=Representation.objects.current()
        .filter(agr=participant)
        .values("connection_address")
        .distinct()
        .count()
        if participant.role == Participant.Role.AGR
        else 0,
        messages_in=messages["inbound"],
        messages_out=messages["outbound"],
    )


def participant_test_messages(*, participant: Participant, limit: int = 20) -> list[Message]:
    """The CRO's TestMessages to this participant, newest first, each with `answers` (2 queries)."""
    return list(
        Message.objects.filter(
            participant=participant,
            direction=Message.Direction.OUTBOUND,
            message_type=uftp.TestMessage.message_type,
        )
        .prefetch_related(
            Prefetch(
                "responses",
                queryset=Message.objects.filter(direction=Message.Direction.INBOUND).order_by(
                    "created_at", "id"
                ),
                to_attr="answers",
            )
        )
        .order_by("-created_at", "-id")[:limit]
    )


def participant_recent_messages(*, participant: Participant, limit: int = 10) -> list[Message]:
    return list(Message.objects.filter(participant=participant).order_by("-created_at", "-id")[:limit])


def participants_of_role(*, role: str) -> QuerySet[Participant]:
    return Participant.objects.filter(role=role).order_by("domain")
