"""The registry over transaction time: every row ever recorded, superseded ones too, with when and
by which message it was recorded and superseded (nothing is forgotten, cro-rules §4)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Q, QuerySet

from registry.models import CongestionPoint, CongestionPointVersion, Membership, Representation
from registry.models.portfolio import active_on_q, known_at_q


def recorded_row_list(
    *,
    queryset: QuerySet,
    as_of: dt.datetime | None = None,
    day: dt.date | None = None,
    current: bool | None = None,
) -> QuerySet:
    """Every row of a bitemporal table (superseded ones too) unless narrowed to what was known at
    `as_of`, to rows active on `day`, or to the current/superseded rows."""
    if as_of is not None:
        queryset = queryset.filter(known_at_q(as_of))
    if day is not None:
        queryset = queryset.filter(active_on_q(day))
    if current is not None:
        queryset = queryset.filter(superseded_at__isnull=current)
    return queryset


def congestion_point_version_history() -> QuerySet[CongestionPointVersion]:
    """Every CP version ever recorded, in the order recorded (the primary key: an index walk, where
    ordering by recorded_at would sort the whole history for every page)."""
    return CongestionPointVersion.objects.select_related("congestion_point__dso").order_by("id")


def membership_history() -> QuerySet[Membership]:
    """Every membership ever recorded, in the order recorded (by primary key, as above)."""
    return Membership.objects.select_related("congestion_point__dso").order_by("id")


def representation_history() -> QuerySet[Representation]:
    """Every representation ever recorded, in the order recorded (by primary key, as above)."""
    return Representation.objects.select_related("agr").order_by("id")


def congestion_point_get(*, pk: int) -> CongestionPoint | None:
    return CongestionPoint.objects.select_related("dso").filter(pk=pk).first()


def congestion_point_versions(*, congestion_point: CongestionPoint) -> QuerySet[CongestionPointVersion]:
    """Every attribute version ever recorded for a CP, in transaction time (lazy)."""
    return _with_messages(CongestionPointVersion.objects.filter(congestion_point=congestion_point)).order_by(
        "recorded_at", "id"
    )


def congestion_point_memberships(*, congestion_point: CongestionPoint) -> QuerySet[Membership]:
    """Every membership row ever recorded for a CP, per connection then in transaction time (lazy)."""
    return _with_messages(Membership.objects.filter(congestion_point=congestion_point)).order_by(
        "connection_address", "recorded_at", "id"
    )


@dataclass(frozen=True, kw_only=True)
class EntityHistory:
    """Every row that ever mentioned an entity address, with when and by which message it was
    recorded and superseded. A CP shows its versions and memberships; a connection shows its
    memberships in any CP and its representations by any AGR."""

    entity_address: str
    congestion_point: CongestionPoint | None
    versions: QuerySet[CongestionPointVersion]
    memberships: QuerySet[Membership]
    representations: QuerySet[Representation]


def entity_history(*, entity_address: str) -> EntityHistory:
    """The full history of a CP or connection address (4 queries when all is evaluated)."""
    cp = CongestionPoint.objects.select_related("dso").filter(entity_address=entity_address).first()
    return EntityHistory(
        entity_address=entity_address,
        congestion_point=cp,
        versions=congestion_point_versions(congestion_point=cp)
        if cp is not None
        else CongestionPointVersion.objects.none(),
        memberships=_with_messages(
            Membership.objects.filter(
                Q(connection_address=entity_address)
                | (Q(congestion_point=cp) if cp is not None else Q(pk__in=[]))
            )
        )
        .select_related("congestion_point")
        .order_by("recorded_at", "id"),
        representations=_with_messages(Representation.objects.filter(connection_address=entity_address))
        .select_related("agr")
        .order_by("recorded_at", "id"),
    )


def _with_messages(queryset: QuerySet) -> QuerySet:
    return queryset.select_related("recorded_by", "superseded_by")


def congestion_point_membership_periods(*, congestion_point: CongestionPoint) -> QuerySet[Membership]:
    """Every membership row of a CP with only what a timeline draws (lazy, 1 query)."""
    return (
        Membership.objects.filter(congestion_point=congestion_point)
        .only("connection_address", "start_period", "end_period", "recorded_at", "superseded_at")
        .order_by("connection_address", "recorded_at", "id")
    )
