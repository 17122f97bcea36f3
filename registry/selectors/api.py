"""Reads of the REST API: the registry as known at time T and active on day D, with bounded queries.

Every function takes a queryset (already narrowed by the plain filters) and returns it filtered and
with its prefetches, so that a page of a list costs a fixed number of SQL queries whatever the
number of rows behind it: one for the page, one per prefetch (and one for the count).
"""

from __future__ import annotations

import datetime as dt

from django.db.models import DateField, Exists, OuterRef, Prefetch, Q, QuerySet, Value
from django.db.models.functions import Coalesce

from registry.models import (
    CongestionPoint,
    CongestionPointVersion,
    Membership,
    Message,
    Participant,
    Representation,
)

# The open end of a Period range, for overlap tests in SQL.
_FAR_FUTURE = Value(dt.date.max, output_field=DateField())

MESSAGE_XML_FIELDS = ("signed_xml", "inner_xml")


def _state(queryset: QuerySet, *, as_of: dt.datetime | None, active_on: dt.date | None) -> QuerySet:
    """Rows of a bitemporal table as known at `as_of` (None: now) and, if given, active on `active_on`."""
    queryset = queryset.known_at(as_of)
    if active_on is not None:
        queryset = queryset.active_on(active_on)
    return queryset


def _represented_by(agr_domain: str, *, as_of: dt.datetime | None, active_on: dt.date | None) -> Exists:
    """For a Membership row: its connection is represented by the AGR on `active_on` or, without a
    day, at some time during the membership's Period range."""
    representations = _state(Representation.objects.all(), as_of=as_of, active_on=active_on).filter(
        agr__domain=agr_domain,
        agr__role=Participant.Role.AGR,
        connection_address=OuterRef("connection_address"),
    )
    if active_on is None:
        representations = representations.filter(
            Q(start_period__lte=Coalesce(OuterRef("end_period"), _FAR_FUTURE))
            & (Q(end_period__isnull=True) | Q(end_period__gte=OuterRef("start_period")))
        )
    return Exists(representations)


def congestion_points_state(
    queryset: QuerySet[CongestionPoint],
    *,
    as_of: dt.datetime | None = None,
    active_on: dt.date | None = None,
    connection: str | None = None,
    agr: str | None = None,
) -> QuerySet[CongestionPoint]:
    """Congestion points the registry held at `as_of` (active on `active_on`), each with
    `state_versions` (its one version then) and `state_memberships` (its connections then).

    `connection` keeps the CPs that hold that connection; `agr` keeps the CPs holding a connection
    the AGR represents and lists only that AGR's connections (the DSO-View of an AGRPortfolioQuery).
    """
    versions = _state(CongestionPointVersion.objects.all(), as_of=as_of, active_on=active_on)
    memberships = _state(Membership.objects.all(), as_of=as_of, active_on=active_on)
    if agr is not None:
        memberships = memberships.filter(_represented_by(agr, as_of=as_of, active_on=active_on))
    queryset = queryset.filter(Exists(versions.filter(congestion_point=OuterRef("pk"))))
    if connection is not None:
        queryset = queryset.filter(
            Exists(memberships.filter(congestion_point=OuterRef("pk"), connection_address=connection))
        )
    if agr is not None:
        queryset = queryset.filter(Exists(memberships.filter(congestion_point=OuterRef("pk"))))
    return queryset.select_related("dso").prefetch_related(
        Prefetch("versions", queryset=versions.order_by("-recorded_at", "-id"), to_attr="state_versions"),
        Prefetch(
            "memberships",
            queryset=memberships.order_by("connection_address", "start_period", "id"),
            to_attr="state_memberships",
        ),
    )


def agr_portfolios_state(
    queryset: QuerySet[Participant],
    *,
    as_of: dt.datetime | None = None,
    active_on: dt.date | None = None,
    connection: str | None = None,
) -> QuerySet[Participant]:
    """AGRs with at least one representation known at `as_of` (active on `active_on`), each with
    `state_representations`. `connection` keeps the AGRs that represent that connection."""
    representations = _state(Representation.objects.all(), as_of=as_of, active_on=active_on)
    queryset = queryset.filter(role=Participant.Role.AGR).filter(
        Exists(representations.filter(agr=OuterRef("pk")))
    )
    if connection is not None:
        queryset = queryset.filter(
            Exists(representations.filter(agr=OuterRef("pk"), connection_address=connection))
        )
    return queryset.prefetch_related(
        Prefetch(
            "representations",
            queryset=representations.order_by("connection_address", "start_period", "id"),
            to_attr="state_representations",
        )
    )


def history_rows(
    queryset: QuerySet,
    *,
    as_of: dt.datetime | None = None,
    active_on: dt.date | None = None,
    current: bool | None = None,
) -> QuerySet:
    """Every row of a bitemporal table (superseded ones too) unless narrowed to what was known at
    `as_of`, to rows active on `active_on`, or to the current/superseded rows."""
    if as_of is not None:
        queryset = queryset.known_at(as_of)
    if active_on is not None:
        queryset = queryset.active_on(active_on)
    if current is not None:
        queryset = queryset.filter(superseded_at__isnull=current)
    return queryset


def congestion_point_versions_list() -> QuerySet[CongestionPointVersion]:
    return CongestionPointVersion.objects.select_related("congestion_point__dso").order_by(
        "recorded_at", "id"
    )


def memberships_list() -> QuerySet[Membership]:
    return Membership.objects.select_related("congestion_point__dso").order_by("recorded_at", "id")


def representations_list() -> QuerySet[Representation]:
    return Representation.objects.select_related("agr").order_by("recorded_at", "id")


def congestion_points_list() -> QuerySet[CongestionPoint]:
    return CongestionPoint.objects.order_by("entity_address")


def agr_portfolios_list() -> QuerySet[Participant]:
    return Participant.objects.filter(role=Participant.Role.AGR).order_by("domain")


def participants_list() -> QuerySet[Participant]:
    return Participant.objects.order_by("domain", "role")


def messages_list(*, include_xml: bool = False) -> QuerySet[Message]:
    """The message log, newest first; the (large) XML columns are only read when asked for."""
    queryset = Message.objects.order_by("-created_at", "-id")
    if not include_xml:
        queryset = queryset.defer(*MESSAGE_XML_FIELDS)
    return queryset
