"""Serializers of the API. Reads show public data only; writes only shape the input, the rules are
the services' (registry/services/*), the same for every entry point."""

from __future__ import annotations

import re
from urllib.parse import urlencode

from django.conf import settings
from django.core.validators import RegexValidator
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from cro.signing import cro_public_key
from registry.models import (
    CongestionPoint,
    CongestionPointVersion,
    Membership,
    Message,
    Participant,
    Representation,
)
from registry.uftp import keys, versions
from registry.uftp.messages import RedispatchBy
from registry.uftp.vocabulary import CRO_MODES
from registry.uftp.vocabulary import INTERNET_DOMAIN_PATTERN as _INTERNET_DOMAIN

# The documented shapes of the inputs. The services check the same things again (and are the
# authority); the patterns let clients and the schema-driven tests know what is accepted.
# Patterns are written for both Python and ECMA-262 (JSON Schema); `\Z`-strictness comes from
# the fullmatch in `_strict`.
INTERNET_DOMAIN_PATTERN = f"^{_INTERNET_DOMAIN}$"
PUBLIC_KEY_PATTERN = r"^([A-Za-z0-9+/]{43}=|cs1\.[A-Za-z0-9+/]{43}=|cs1\.[A-Za-z0-9+/]{86}==)$"
_IPV4_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_HOST_LABEL = r"[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?"
_PCHAR = r"[A-Za-z0-9._~!$&'()*+,;=:@-]"
# An http(s) URL with a host name, IPv4 address or localhost, a port, up to 5 path segments and a
# short query, in RFC 3986 characters (no percent-encoding): a subset of what the service's
# URLValidator accepts, bounded so that it never exceeds the 500 characters the column holds.
ENDPOINT_URL_PATTERN = (
    r"^https?://"
    rf"(localhost|{_IPV4_OCTET}(\.{_IPV4_OCTET}){{3}}|({_HOST_LABEL}\.){{1,4}}[a-z]{{2,24}})"
    r"(:[0-9]{1,5})?"
    rf"(/{_PCHAR}{{0,60}}){{0,5}}"
    rf"(\?({_PCHAR}|[/?]){{0,20}})?$"
)


def _strict(pattern: str, message: str) -> RegexValidator:
    """A validator for `pattern` that also refuses a trailing newline (Python's `$` allows one)."""
    return RegexValidator(re.compile(pattern.removesuffix("$") + r"\Z"), message=message)


def _ecma_pattern(pattern: str) -> dict:
    return {"type": "string", "pattern": pattern}


# Enums shared by several answers, named once in the schema (and not after whichever field
# drf-spectacular meets first: two different "status" sets, AGR/DSO both a role and a redispatcher).
REDISPATCH_BY = [value.value for value in RedispatchBy]


@extend_schema_field({"type": "string", "enum": REDISPATCH_BY}, component_name="RedispatchBy")
class RedispatchByField(serializers.ChoiceField):
    """Who redispatches (DayAheadRedispatchBy, IntradayRedispatchBy); "" (no intraday) reads as null."""

    def __init__(self, **kwargs):
        super().__init__(choices=REDISPATCH_BY, read_only=True, **kwargs)

    def to_representation(self, value):
        return value or None


@extend_schema_field(
    {"type": "string", "enum": Participant.Status.values}, component_name="ParticipantStatus"
)
class ParticipantStatusField(serializers.ChoiceField):
    def __init__(self, **kwargs):
        super().__init__(choices=Participant.Status.choices, read_only=True, **kwargs)


@extend_schema_field({"type": "string", "enum": Message.Status.values}, component_name="MessageStatus")
class MessageStatusField(serializers.ChoiceField):
    def __init__(self, **kwargs):
        super().__init__(choices=Message.Status.choices, read_only=True, **kwargs)


@extend_schema_field(
    {"type": "string", "pattern": INTERNET_DOMAIN_PATTERN, "maxLength": 253, "example": "dso.example.com"}
)
class DomainField(serializers.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 253)
        super().__init__(**kwargs)
        self.validators.append(_strict(INTERNET_DOMAIN_PATTERN, "not a UFTP internet domain"))


@extend_schema_field(
    {
        "type": "string",
        "pattern": PUBLIC_KEY_PATTERN,
        "description": "base64 of a 32-byte Ed25519 public key, or its published form cs1.<base64>",
    }
)
class PublicKeyField(serializers.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 92)
        super().__init__(**kwargs)
        self.validators.append(_strict(PUBLIC_KEY_PATTERN, "not a base64 Ed25519 public key"))


@extend_schema_field(
    {
        "type": "string",
        "pattern": ENDPOINT_URL_PATTERN,
        "description": "http(s) URL of the participant's UFTP endpoint (at most 5 path segments of 60 "
        "characters, no percent-encoding)",
        "example": "https://dso.example.com/shapeshifter/api/v3/message",
    }
)
class EndpointUrlField(serializers.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 500)
        super().__init__(**kwargs)
        self.validators.append(_strict(ENDPOINT_URL_PATTERN, "not an http(s) URL"))


@extend_schema_field(
    {
        "type": "array",
        "items": _ecma_pattern(PUBLIC_KEY_PATTERN),
        "minItems": 1,
        "maxItems": 2,
        "uniqueItems": True,
    }
)
class PublicKeysField(serializers.ListField):
    def __init__(self, **kwargs):
        super().__init__(child=PublicKeyField(), min_length=1, max_length=2, **kwargs)


# ------------------------------------------------------------------------------ participants
class ParticipantSerializer(serializers.ModelSerializer):
    """A DSO or AGR: only what is public (keys are public keys; nothing private is stored)."""

    status = ParticipantStatusField()
    public_keys = serializers.ListField(
        child=serializers.CharField(), read_only=True, help_text="every key a signature may verify with"
    )
    endpoints_by_major = serializers.DictField(
        child=serializers.CharField(),
        read_only=True,
        help_text="where the CRO posts a message of each major version: recorded in `endpoints`, "
        "else derived from `endpoint_url` by the path convention /shapeshifter/api/v<major>/message",
    )

    class Meta:
        model = Participant
        fields = [
            "id",
            "domain",
            "role",
            "status",
            "source",
            "endpoint_url",
            "endpoints",
            "endpoints_by_major",
            "newest_version",
            "public_key",
            "public_key_previous",
            "public_keys",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


# The Shapeshifter versions a field may name (one enum in the API schema: settings.SPECTACULAR_SETTINGS).
SHAPESHIFTER_VERSION_CHOICES = sorted(versions.SUPPORTED_VERSIONS)


@extend_schema_field(
    {
        "type": "object",
        "properties": {str(major): _ecma_pattern(ENDPOINT_URL_PATTERN) for major in versions.ENDPOINT_PATHS},
        "additionalProperties": False,
        "description": 'an endpoint per major version, e.g. {"4": "https://dso.example.com/shapeshifter/api/v4/message"}; '
        "a major left out is derived from endpoint_url by the path convention /shapeshifter/api/v<major>/message",
    }
)
class EndpointsPerMajorField(serializers.DictField):
    def __init__(self, **kwargs):
        kwargs.setdefault("child", EndpointUrlField())
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        unknown = sorted(set(value) - {str(major) for major in versions.ENDPOINT_PATHS})
        if unknown:
            supported = ", ".join(str(major) for major in versions.ENDPOINT_PATHS)
            raise serializers.ValidationError(
                f"no Shapeshifter major version {unknown[0]!r} (supported: {supported})"
            )
        return value


class NewestVersionField(serializers.ChoiceField):
    def __init__(self, **kwargs):
        kwargs.setdefault(
            "help_text",
            "the newest Shapeshifter version the participant speaks (the CRO's TestMessage uses it)",
        )
        super().__init__(choices=SHAPESHIFTER_VERSION_CHOICES, **kwargs)


class ParticipantCreateSerializer(serializers.Serializer):
    domain = DomainField()
    role = serializers.ChoiceField(choices=Participant.Role.choices)
    public_keys = PublicKeysField(help_text="the current key, then the previous one during a key rotation")
    endpoint_url = EndpointUrlField()
    endpoints = EndpointsPerMajorField(required=False)
    newest_version = NewestVersionField(required=False)


class ParticipantUpdateSerializer(serializers.Serializer):
    """Keys and endpoint of a participant; its (domain, role) never changes."""

    public_keys = PublicKeysField(help_text="the current key, then the previous one during a key rotation")
    endpoint_url = EndpointUrlField()
    endpoints = EndpointsPerMajorField(required=False)
    newest_version = NewestVersionField(required=False)


class KeyRotateSerializer(serializers.Serializer):
    public_key = PublicKeyField(
        help_text="the new current key; the one it replaces stays valid until the rotation completes"
    )


# Some character other than NUL and ASCII white space (the same in Python and ECMA regexes).
BAR_REASON_PATTERN = r"^[^\x00]*[^\x00 \t\n\r\f\v][^\x00]*$"


@extend_schema_field(
    {
        "type": "string",
        "pattern": BAR_REASON_PATTERN,
        "maxLength": 500,
        "description": "Why the participant is barred (kept in the audit trail)",
    }
)
class BarReasonField(serializers.CharField):
    def __init__(self, **kwargs):
        super().__init__(max_length=500, trim_whitespace=False, **kwargs)
        self.validators.append(_strict(BAR_REASON_PATTERN, "give the reason for barring the participant"))

    def to_internal_value(self, data):
        # The schema says string: DRF's CharField would turn 0 or true into "0" or "True".
        if not isinstance(data, str):
            raise serializers.ValidationError("the reason must be a string")
        return super().to_internal_value(data)


class BarSerializer(serializers.Serializer):
    reason = BarReasonField()


class TestMessageSendSerializer(serializers.Serializer):
    __test__ = False  # not a pytest test class

    version = serializers.ChoiceField(
        choices=SHAPESHIFTER_VERSION_CHOICES,
        required=False,
        help_text="Shapeshifter version of the TestMessage; default: the newest the participant speaks",
    )


# ------------------------------------------------------------------------------ the CRO itself
class CroSerializer(serializers.Serializer):
    """What the CRO publishes about itself; its private key is never part of it."""

    domain = serializers.CharField()
    role = serializers.CharField()
    public_key = serializers.CharField(help_text="base64 of the CRO's Ed25519 public key")
    public_key_cs1 = serializers.CharField(help_text="the published form, for DNS")
    mode = serializers.ChoiceField(choices=list(CRO_MODES))
    time_zone = serializers.CharField()
    supported_versions = serializers.ListField(child=serializers.CharField())

    @staticmethod
    def current() -> dict:
        public_key = cro_public_key()
        return {
            "domain": settings.CRO_DOMAIN,
            "role": "CRO",
            "public_key": public_key,
            "public_key_cs1": keys.to_cs1(public_key),
            "mode": settings.CRO_MODE,
            "time_zone": settings.CRO_TIME_ZONE,
            "supported_versions": sorted(versions.SUPPORTED_VERSIONS),
        }


# ------------------------------------------------------------------------------ registry state
class ConnectionPeriodSerializer(serializers.Serializer):
    """A connection's Period range in a congestion point or in an AGR's portfolio."""

    entity_address = serializers.CharField(source="connection_address")
    start_period = serializers.DateField()
    end_period = serializers.DateField(allow_null=True)
    recorded_at = serializers.DateTimeField()


class CongestionPointSerializer(serializers.ModelSerializer):
    """A congestion point as known at `as_of` (default: now): its attributes and connections
    (active on `active_on` when given, else every Period range)."""

    dso = serializers.SlugRelatedField(slug_field="domain", read_only=True)
    dso_id = serializers.IntegerField(read_only=True)
    start_period = serializers.DateField(source="state_version.start_period", read_only=True)
    end_period = serializers.DateField(source="state_version.end_period", read_only=True, allow_null=True)
    mutex_offers_supported = serializers.BooleanField(
        source="state_version.mutex_offers_supported", read_only=True
    )
    day_ahead_redispatch_by = RedispatchByField(source="state_version.day_ahead_redispatch_by")
    intraday_redispatch_by = RedispatchByField(source="state_version.intraday_redispatch_by", allow_null=True)
    recorded_at = serializers.DateTimeField(
        source="state_version.recorded_at", read_only=True, help_text="when these attributes were recorded"
    )
    connections = ConnectionPeriodSerializer(source="state_memberships", many=True, read_only=True)

    class Meta:
        model = CongestionPoint
        fields = [
            "id",
            "entity_address",
            "dso",
            "dso_id",
            "start_period",
            "end_period",
            "mutex_offers_supported",
            "day_ahead_redispatch_by",
            "intraday_redispatch_by",
            "recorded_at",
            "connections",
        ]
        read_only_fields = fields

    def to_representation(self, instance):
        # The selector prefetches the one version known at `as_of` (the list holds only CPs with one).
        versions = getattr(instance, "state_versions", None)
        instance.state_version = versions[0] if versions else None
        return super().to_representation(instance)


class AgrPortfolioSerializer(serializers.ModelSerializer):
    """An AGR with a representation known at `as_of` (active on `active_on`), and where its
    connections are: an AGR represents up to hundreds of thousands, so they come in pages of
    their own rather than inlined here."""

    agr = serializers.CharField(source="domain", read_only=True)
    status = ParticipantStatusField()
    connections = serializers.SerializerMethodField(
        help_text="URL of the pages of this AGR's connections, with the same as_of and active_on"
    )

    def get_connections(self, instance: Participant) -> str:
        request = self.context["request"]
        url = reverse("api:agr-portfolio-connections", kwargs={"pk": instance.pk})
        kept = {
            name: request.query_params[name]
            for name in ("as_of", "active_on")
            if name in request.query_params
        }
        return request.build_absolute_uri(f"{url}?{urlencode(kept)}" if kept else url)

    class Meta:
        model = Participant
        fields = ["id", "agr", "status", "connections"]
        read_only_fields = fields


class AgrQueryCongestionPointSerializer(serializers.Serializer):
    entity_address = serializers.CharField()
    mutex_offers_supported = serializers.BooleanField()
    day_ahead_redispatch_by = RedispatchByField()
    intraday_redispatch_by = RedispatchByField(allow_null=True)
    connections = serializers.ListField(
        child=serializers.CharField(), help_text="this AGR's connections only"
    )


class AgrQueryDsoPortfolioSerializer(serializers.Serializer):
    dso = serializers.CharField(source="dso_domain")
    congestion_points = AgrQueryCongestionPointSerializer(many=True)


class AgrPortfolioQueryAnswerSerializer(serializers.Serializer):
    """What the CRO answers this AGR's AGRPortfolioQuery for `period` (cro-rules §5)."""

    agr = serializers.CharField()
    period = serializers.DateField()
    as_of = serializers.DateTimeField(allow_null=True)
    result = serializers.ChoiceField(choices=["Accepted", "Rejected"])
    rejection_reason = serializers.CharField(allow_null=True)
    dso_portfolios = AgrQueryDsoPortfolioSerializer(
        many=True, help_text="per DSO, its CPs active on the period"
    )
    unallocated_connections = serializers.ListField(
        child=serializers.CharField(), help_text="represented connections in no active congestion point"
    )


# ------------------------------------------------------------------------------ registry history
_RECORDED_FIELDS = ["recorded_at", "recorded_by", "superseded_at", "superseded_by", "source", "is_current"]


class RecordedRowSerializer(serializers.ModelSerializer):
    """Transaction time of a row; recorded_by/superseded_by are ids in /api/messages/."""

    recorded_by = serializers.IntegerField(source="recorded_by_id", read_only=True, allow_null=True)
    superseded_by = serializers.IntegerField(source="superseded_by_id", read_only=True, allow_null=True)
    is_current = serializers.BooleanField(read_only=True)


class CongestionPointVersionSerializer(RecordedRowSerializer):
    congestion_point = serializers.IntegerField(source="congestion_point_id", read_only=True)
    day_ahead_redispatch_by = RedispatchByField()
    intraday_redispatch_by = RedispatchByField(allow_null=True)
    entity_address = serializers.CharField(source="congestion_point.entity_address", read_only=True)
    dso = serializers.CharField(source="congestion_point.dso.domain", read_only=True)

    class Meta:
        model = CongestionPointVersion
        fields = [
            "id",
            "congestion_point",
            "entity_address",
            "dso",
            "start_period",
            "end_period",
            "mutex_offers_supported",
            "day_ahead_redispatch_by",
            "intraday_redispatch_by",
            *_RECORDED_FIELDS,
        ]
        read_only_fields = fields


class MembershipSerializer(RecordedRowSerializer):
    congestion_point = serializers.IntegerField(source="congestion_point_id", read_only=True)
    congestion_point_address = serializers.CharField(source="congestion_point.entity_address", read_only=True)
    dso = serializers.CharField(source="congestion_point.dso.domain", read_only=True)
    entity_address = serializers.CharField(source="connection_address", read_only=True)

    class Meta:
        model = Membership
        fields = [
            "id",
            "congestion_point",
            "congestion_point_address",
            "dso",
            "entity_address",
            "start_period",
            "end_period",
            *_RECORDED_FIELDS,
        ]
        read_only_fields = fields


class RepresentationSerializer(RecordedRowSerializer):
    agr_id = serializers.IntegerField(read_only=True)
    agr = serializers.CharField(source="agr.domain", read_only=True)
    entity_address = serializers.CharField(source="connection_address", read_only=True)

    class Meta:
        model = Representation
        fields = ["id", "agr_id", "agr", "entity_address", "start_period", "end_period", *_RECORDED_FIELDS]
        read_only_fields = fields


# ------------------------------------------------------------------------------ messages
class MessageSerializer(serializers.ModelSerializer):
    """Metadata and status of a message in the log. With ?include=xml also its raw XML."""

    status = MessageStatusField()
    participant = serializers.IntegerField(source="participant_id", read_only=True, allow_null=True)
    request = serializers.IntegerField(source="request_id", read_only=True, allow_null=True)
    # Not read_only so that the schema marks them optional: they are present only on request.
    signed_xml = serializers.CharField(required=False, help_text="only with ?include=xml")
    inner_xml = serializers.CharField(required=False, help_text="only with ?include=xml")

    class Meta:
        model = Message
        fields = [
            "id",
            "direction",
            "status",
            "message_type",
            "version",
            "path_major",
            "sender_domain",
            "sender_role",
            "recipient_domain",
            "recipient_role",
            "participant",
            "message_id",
            "conversation_id",
            "reference_message_id",
            "time_stamp",
            "request",
            "body_digest",
            "result",
            "rejection_reason",
            "attempts",
            "last_error",
            "next_attempt_at",
            "give_up_at",
            "created_at",
            "updated_at",
            "processed_at",
            "delivered_at",
            "signed_xml",
            "inner_xml",
        ]
        read_only_fields = [name for name in fields if name not in ("signed_xml", "inner_xml")]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.context.get("include_xml"):
            self.fields.pop("signed_xml")
            self.fields.pop("inner_xml")
