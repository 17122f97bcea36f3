"""The registry: congestion points, the connections in them and the AGRs that represent connections.

Rows are bitemporal so that nothing is ever forgotten (cro-rules §4):
- valid time: the inclusive Period range [start_period, end_period]; end_period None is open-ended;
- transaction time: [recorded_at, superseded_at); superseded_at None marks the current row.
A change never edits a row's content: the old row gets superseded_at/superseded_by and a new row is
inserted. "On day D as known at time T" is then `.known_at(T).active_on(D)`.

Writes go through registry.services.portfolio, reads through registry.selectors.
"""

from __future__ import annotations

import datetime as dt

from django.db import connection, models
from django.db.models import F, Lookup, Q

from registry.uftp import messages as uftp_messages
from registry.validators import validate_entity_address

# ea1.YYYY-MM.<naming authority>:<id> may be up to 501 characters (UFTP EntityAddress pattern).
ENTITY_ADDRESS_MAX_LENGTH = 512


class RedispatchBy(models.TextChoices):
    AGR = uftp_messages.RedispatchBy.AGR.value, "AGR"
    DSO = uftp_messages.RedispatchBy.DSO.value, "DSO"


def known_at_q(as_of: dt.datetime | None, *, prefix: str = "") -> Q:
    """Rows the registry held at `as_of` (None: now, i.e. the current rows).

    `prefix` applies the condition to a related bitemporal table, e.g. "congestion_point__versions__".
    """
    if as_of is None:
        return Q(**{f"{prefix}superseded_at__isnull": True})
    return Q(**{f"{prefix}recorded_at__lte": as_of}) & (
        Q(**{f"{prefix}superseded_at__isnull": True}) | Q(**{f"{prefix}superseded_at__gt": as_of})
    )


def active_on_q(day: dt.date, *, prefix: str = "") -> Q:
    """Rows whose inclusive Period range holds `day` (Periods are calendar dates: DST plays no part)."""
    return Q(**{f"{prefix}start_period__lte": day}) & (
        Q(**{f"{prefix}end_period__isnull": True}) | Q(**{f"{prefix}end_period__gte": day})
    )


def known_at_sql(alias: str, as_of: dt.datetime | None) -> tuple[str, list]:
    """known_at_q as SQL text on table alias `alias`, for the hot paths that skip the ORM's compiler.

    The parameters are adapted as the ORM would (SQLite stores naive UTC text).
    """
    if as_of is None:
        return f"{alias}.superseded_at IS NULL", []
    moment = connection.ops.adapt_datetimefield_value(as_of)
    return (
        f"{alias}.recorded_at <= %s AND ({alias}.superseded_at IS NULL OR {alias}.superseded_at > %s)",
        [moment, moment],
    )


def active_on_sql(alias: str, day: dt.date) -> tuple[str, list]:
    """active_on_q as SQL text on table alias `alias`."""
    value = connection.ops.adapt_datefield_value(day)
    return (
        f"{alias}.start_period <= %s AND ({alias}.end_period IS NULL OR {alias}.end_period >= %s)",
        [value, value],
    )


class InArray(Lookup):
    """PostgreSQL `column IN (SELECT unnest(%s::type[]))`: one array parameter for any number of values.

    Unlike `IN (%s, %s, ...)` it binds one parameter whatever the size (50,000 addresses); unlike
    `= ANY(%s)`, which PostgreSQL checked by scanning the array for every row (4.7 s to supersede
    50,000 rows), it is planned as a hash join (0.8 s). Use as `.filter(InArray(F("field"), values))`.
    """

    lookup_name = "in_array"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        array_type = self.lhs.output_field.cast_db_type(connection)
        return f"{lhs} IN (SELECT unnest(%s::{array_type}[]))", [*lhs_params, list(self.rhs)]


class RecordedQuerySet(models.QuerySet):
    """Filters shared by every bitemporal table."""

    def current(self) -> RecordedQuerySet:
        return self.filter(superseded_at__isnull=True)

    def known_at(self, as_of: dt.datetime | None) -> RecordedQuerySet:
        return self.filter(known_at_q(as_of))

    def active_on(self, day: dt.date) -> RecordedQuerySet:
        return self.filter(active_on_q(day))


class RecordedRow(models.Model):
    """Transaction time of a bitemporal row, and what recorded or superseded it."""

    recorded_at = models.DateTimeField()
    # No index of every row on these two: nothing reads the registry by message, and an index
    # whose key is NULL on every current row costs on each of the millions of inserts.
    # rows_by_message_indexes() indexes the rows that name a message (what protecting a
    # message from deletion looks up).
    recorded_by = models.ForeignKey(
        "registry.Message",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="recorded_%(class)s_set",
        db_index=False,
    )
    superseded_at = models.DateTimeField(null=True, blank=True)
    superseded_by = models.ForeignKey(
        "registry.Message",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="superseded_%(class)s_set",
        db_index=False,
    )
    # Where the change came from when there is no message: "uftp", "csv", "admin", ...
    source = models.CharField(max_length=32, blank=True, default="")

    objects = RecordedQuerySet.as_manager()

    class Meta:
        abstract = True

    @property
    def is_current(self) -> bool:
        return self.superseded_at is None


def rows_by_message_indexes(prefix: str) -> list[models.Index]:
    """The rows a message recorded / superseded, indexed only where they name one (partial)."""
    return [
        models.Index(
            fields=["recorded_by"], condition=Q(recorded_by__isnull=False), name=f"{prefix}_recorded_idx"
        ),
        models.Index(
            fields=["superseded_by"],
            condition=Q(superseded_by__isnull=False),
            name=f"{prefix}_superseded_idx",
        ),
    ]


def _period_is_ordered(prefix: str) -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=Q(end_period__isnull=True) | Q(end_period__gte=F("start_period")),
        name=f"{prefix}_end_period_not_before_start_period",
    )


def _superseded_after_recorded(prefix: str) -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=Q(superseded_at__isnull=True) | Q(superseded_at__gte=F("recorded_at")),
        name=f"{prefix}_superseded_not_before_recorded",
    )


def _superseded_by_only_when_superseded(prefix: str) -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=Q(superseded_by__isnull=True) | Q(superseded_at__isnull=False),
        name=f"{prefix}_superseded_by_only_on_superseded_rows",
    )


class CongestionPoint(models.Model):
    """Identity of a congestion point: its address and owner. The row lock serialises its updates."""

    entity_address = models.CharField(
        max_length=ENTITY_ADDRESS_MAX_LENGTH, validators=[validate_entity_address]
    )
    dso = models.ForeignKey(
        "registry.Participant",
        on_delete=models.PROTECT,
        related_name="congestion_points",
        limit_choices_to={"role": "DSO"},
    )
    # TimeStamp of the newest DSOPortfolioUpdate applied to this CP (cro-rules §3 item 9).
    last_time_stamp = models.DateTimeField(null=True, blank=True)
    last_message = models.ForeignKey(
        "registry.Message", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["entity_address"]
        constraints = [
            models.UniqueConstraint(fields=["entity_address"], name="congestion_point_entity_address_unique"),
        ]

    def __str__(self) -> str:
        return self.entity_address


class CongestionPointVersion(RecordedRow):
    """A CP's Period and attributes as one DSOPortfolioUpdate stated them."""

    congestion_point = models.ForeignKey(CongestionPoint, on_delete=models.PROTECT, related_name="versions")
    start_period = models.DateField()
    end_period = models.DateField(null=True, blank=True)
    mutex_offers_supported = models.BooleanField()
    day_ahead_redispatch_by = models.CharField(max_length=3, choices=RedispatchBy.choices)
    # Empty: no intraday trading on this CP (IntradayRedispatchBy is optional).
    intraday_redispatch_by = models.CharField(
        max_length=3, choices=RedispatchBy.choices, blank=True, default=""
    )

    class Meta:
        ordering = ["congestion_point_id", "recorded_at", "id"]
        indexes = rows_by_message_indexes("cp_version")
        constraints = [
            models.UniqueConstraint(
                fields=["congestion_point"],
                condition=Q(superseded_at__isnull=True),
                name="congestion_point_version_one_current_per_congestion_point",
            ),
            _period_is_ordered("congestion_point_version"),
            _superseded_after_recorded("congestion_point_version"),
            _superseded_by_only_when_superseded("congestion_point_version"),
            models.CheckConstraint(
                condition=Q(day_ahead_redispatch_by__in=RedispatchBy.values),
                name="congestion_point_version_day_ahead_redispatch_by_is_known",
            ),
            models.CheckConstraint(
                condition=Q(intraday_redispatch_by__in=["", *RedispatchBy.values]),
                name="congestion_point_version_intraday_redispatch_by_is_known",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.congestion_point_id} {self.start_period}..{self.end_period or ''}"


class Membership(RecordedRow):
    """A connection is part of a congestion point for a Period range.

    On PostgreSQL the current memberships of one connection never overlap, across all congestion
    points: statement triggers (migration 0012) lock the connection's Connection row and check the
    new current rows through membership_conn_idx, raising the exclusion violation
    `membership_connection_periods_do_not_overlap`. They replaced a GiST exclusion constraint
    (migration 0003) whose hashed key scatters every insert over the whole index: with 2,000,000
    current rows, inserting 50,000 memberships of new connections in address order took 1.6 s with
    it and 0.8 s with the triggers (1,000: 51 ms and 16 ms); scattered over the whole address
    range, where every btree insert lands on a page of its own too, 4.2 s and 2.8 s (medians of an
    INSERT .. SELECT on bench/plans.py's registry, 128 MB of shared buffers, shared 2 cores).
    """

    # Indexed with superseded_at below (membership_cp_idx), not alone.
    congestion_point = models.ForeignKey(
        CongestionPoint, on_delete=models.PROTECT, related_name="memberships", db_index=False
    )
    connection_address = models.CharField(
        max_length=ENTITY_ADDRESS_MAX_LENGTH, validators=[validate_entity_address]
    )
    start_period = models.DateField()
    end_period = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["congestion_point_id", "connection_address", "recorded_at", "id"]
        # Few indexes: each one costs on the inserts and supersedes of millions of rows. One per way
        # in, each keyed (entity, superseded_at) so that the current rows (superseded_at IS NULL, an
        # index condition) and the rows known at a moment come from the same index:
        # - by connection, covering the CP and the Period: conflict checks and the AGR query probe
        #   it index-only, one probe per connection asked, whatever the registry holds;
        # - by CP: a CP's rows for the DSO query and update, the web pages and the export.
        # (Meta indexes rather than db_index: PostgreSQL then gets no extra LIKE index.)
        indexes = [
            models.Index(
                fields=["connection_address", "superseded_at"],
                include=["congestion_point", "start_period", "end_period"],
                name="membership_conn_idx",
            ),
            models.Index(fields=["congestion_point", "superseded_at"], name="membership_cp_idx"),
            *rows_by_message_indexes("membership"),
        ]
        constraints = [
            _period_is_ordered("membership"),
            _superseded_after_recorded("membership"),
            _superseded_by_only_when_superseded("membership"),
        ]

    def __str__(self) -> str:
        return f"{self.connection_address} in {self.congestion_point_id} {self.start_period}..{self.end_period or ''}"


class Representation(RecordedRow):
    """An AGR represents the prosumer at a connection for a Period range.

    On PostgreSQL the current representations of one connection never overlap, across all AGRs:
    checked as for Membership (migration 0012), the exclusion violation named
    `representation_connection_periods_do_not_overlap`.
    """

    # Indexed with superseded_at below (representation_agr_idx), not alone.
    agr = models.ForeignKey(
        "registry.Participant",
        on_delete=models.PROTECT,
        related_name="representations",
        limit_choices_to={"role": "AGR"},
        db_index=False,
    )
    connection_address = models.CharField(
        max_length=ENTITY_ADDRESS_MAX_LENGTH, validators=[validate_entity_address]
    )
    start_period = models.DateField()
    end_period = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["agr_id", "connection_address", "recorded_at", "id"]
        # As for Membership: by connection (covering the AGR and the Period: conflict checks and the
        # DSO query probe it index-only) and by AGR (an AGR's query and pages), each with superseded_at.
        indexes = [
            models.Index(
                fields=["connection_address", "superseded_at"],
                include=["agr", "start_period", "end_period"],
                name="representation_conn_idx",
            ),
            models.Index(fields=["agr", "superseded_at"], name="representation_agr_idx"),
            *rows_by_message_indexes("repr"),
        ]
        constraints = [
            _period_is_ordered("representation"),
            _superseded_after_recorded("representation"),
            _superseded_by_only_when_superseded("representation"),
        ]

    def __str__(self) -> str:
        return f"{self.connection_address} by {self.agr_id} {self.start_period}..{self.end_period or ''}"


class Connection(models.Model):
    """Identity of a connection the registry has held. Its row lock serialises the changes of that
    connection's memberships and representations, across all CPs and AGRs: the AGR update locks it
    before its checks (two AGRs claiming it at once cannot both win), and on PostgreSQL every
    statement writing current memberships or representations creates and locks it (migration 0012)."""

    entity_address = models.CharField(
        max_length=ENTITY_ADDRESS_MAX_LENGTH, validators=[validate_entity_address]
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["entity_address"]
        constraints = [
            models.UniqueConstraint(fields=["entity_address"], name="connection_entity_address_unique"),
        ]

    def __str__(self) -> str:
        return self.entity_address


class RepresentationSequence(models.Model):
    """TimeStamp of the newest AGRPortfolioUpdate an AGR applied to a connection (cro-rules §3 item 9)."""

    agr = models.ForeignKey(
        "registry.Participant", on_delete=models.PROTECT, related_name="+", limit_choices_to={"role": "AGR"}
    )
    connection = models.ForeignKey(Connection, on_delete=models.PROTECT, related_name="sequences")
    last_time_stamp = models.DateTimeField()
    last_message = models.ForeignKey(
        "registry.Message", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["agr", "connection"], name="representation_sequence_one_per_agr_and_connection"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.agr_id}/{self.connection_id} @ {self.last_time_stamp}"
