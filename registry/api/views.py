"""Thin viewsets of the REST API: a queryset (registry/selectors), a serializer, a filterset.

Writes call the same services as the admin pages and commands (registry/services/*), so the
rules hold whatever the entry point; a django ValidationError from a service becomes a 400 with
field errors, or a 409 (same body) where the input is well-formed and the object's state refuses it
(retrying a message that did not fail, completing a key rotation that is not under way, ...).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.generics import get_object_or_404
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from registry.api import filters, serializers
from registry.api.pagination import ApiPagination, RegistryPagination, UncountedPagination
from registry.api.permissions import StaffReadRoleWrite
from registry.api.schema import ApiAutoSchema
from registry.models import Participant
from registry.selectors import messages as message_selectors
from registry.selectors import participants as participant_selectors
from registry.selectors import portfolio_queries, registry_history, registry_state
from registry.services import outbound as outbound_services
from registry.services import participants as participant_services
from registry.services.audit import audited


class Conflict(ValidationError):
    """Well-formed input the object's current state refuses (e.g. retrying a delivered message)."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


@contextmanager
def service_errors(*, rename: dict[str, str] | None = None, conflict: bool = False) -> Iterator[None]:
    """Turn a service's django ValidationError into a 400 with field errors.

    `conflict`: the input was fully checked against the schema before the call, so what the service
    refuses is the object's state: 409 with the same field errors.
    """
    try:
        yield
    except DjangoValidationError as exc:
        rename = rename or {}
        if hasattr(exc, "error_dict"):
            detail = {
                api_settings.NON_FIELD_ERRORS_KEY
                if field == NON_FIELD_ERRORS
                else rename.get(field, field): messages
                for field, messages in exc.message_dict.items()
            }
        else:
            detail = {api_settings.NON_FIELD_ERRORS_KEY: exc.messages}
        raise (Conflict if conflict else ValidationError)(detail) from exc


class ApiMixin:
    # What every API view shares: who may call it, JSON input, bounded pages, documented errors.

    permission_classes = [StaffReadRoleWrite]
    parser_classes = [JSONParser]
    pagination_class = ApiPagination
    schema = ApiAutoSchema()
    # Any id reaches the view, which answers a JSON 404 for one that is not a number (the router's
    # default, [^/.]+, leaves "1.5" to Django's HTML 404 page).
    lookup_value_regex = "[^/]+"


STATE_PARAMETERS = [
    OpenApiParameter("as_of", OpenApiTypes.DATETIME, description=filters.AS_OF_HELP),
    OpenApiParameter("active_on", OpenApiTypes.DATE, description=filters.ACTIVE_ON_HELP),
]


# ------------------------------------------------------------------------------ participants
@extend_schema_view(
    list=extend_schema(summary="List participants (DSOs and AGRs)"),
    retrieve=extend_schema(summary="One participant"),
)
class ParticipantViewSet(ApiMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """DSOs and AGRs allowed to talk to the CRO: public keys and endpoint only (nothing private)."""

    queryset = participant_selectors.participant_list()
    serializer_class = serializers.ParticipantSerializer
    filterset_class = filters.ParticipantFilter

    schema_conflict_actions = ("create", "rotate_key", "complete_key_rotation")
    write_serializers = {
        "create": serializers.ParticipantCreateSerializer,
        "update": serializers.ParticipantUpdateSerializer,
        "partial_update": serializers.ParticipantUpdateSerializer,
        "rotate_key": serializers.KeyRotateSerializer,
        "test_message": serializers.TestMessageSendSerializer,
    }

    def get_serializer_class(self):
        return self.write_serializers.get(self.action, self.serializer_class)

    def _answer(self, participant: Participant, status_code: int = status.HTTP_200_OK) -> Response:
        return Response(serializers.ParticipantSerializer(participant).data, status=status_code)

    @extend_schema(
        summary="Register a participant",
        request=serializers.ParticipantCreateSerializer,
        responses={201: serializers.ParticipantSerializer},
    )
    def create(self, request: Request) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        with service_errors():
            try:
                with audited(request=request, action="participant_create") as audit:
                    participant = participant_services.participant_create(**data)
                    audit.target = participant
            except participant_services.ParticipantExists as exc:
                raise Conflict(exc.message_dict) from exc
        return self._answer(participant, status.HTTP_201_CREATED)

    def _update(self, request: Request, *, partial: bool) -> Response:
        participant = self.get_object()
        serializer = self.get_serializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        values = {"public_keys": participant.public_keys, "endpoint_url": participant.endpoint_url}
        values.update(serializer.validated_data)
        with service_errors():
            with audited(request=request, action="participant_update", target=participant):
                saved = participant_services.participant_upsert(
                    domain=participant.domain, role=participant.role, **values
                )
        return self._answer(saved.participant)

    @extend_schema(
        summary="Replace a participant's keys and endpoint",
        request=serializers.ParticipantUpdateSerializer,
        responses=serializers.ParticipantSerializer,
    )
    def update(self, request: Request, pk=None) -> Response:
        return self._update(request, partial=False)

    @extend_schema(
        summary="Change a participant's keys or endpoint",
        request=serializers.ParticipantUpdateSerializer,
        responses=serializers.ParticipantSerializer,
    )
    def partial_update(self, request: Request, pk=None) -> Response:
        return self._update(request, partial=True)

    @extend_schema(
        summary="Bar a participant (a reason is required)",
        request=serializers.BarSerializer,
        responses=serializers.ParticipantSerializer,
    )
    @action(detail=True, methods=["post"])
    def bar(self, request: Request, pk=None) -> Response:
        participant = self.get_object()
        serializer = serializers.BarSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        reason = serializer.validated_data["reason"]
        with (
            service_errors(),
            audited(request=request, action="participant_bar", target=participant, reason=reason),
        ):
            participant = participant_services.participant_bar(participant=participant)
        return self._answer(participant)

    @extend_schema(
        summary="Reactivate a barred participant", request=None, responses=serializers.ParticipantSerializer
    )
    @action(detail=True, methods=["post"])
    def reactivate(self, request: Request, pk=None) -> Response:
        participant = self.get_object()
        with service_errors(), audited(request=request, action="participant_reactivate", target=participant):
            participant = participant_services.participant_reactivate(participant=participant)
        return self._answer(participant)

    @extend_schema(
        summary="Start a key rotation: the new key becomes valid beside the current one",
        request=serializers.KeyRotateSerializer,
        responses=serializers.ParticipantSerializer,
    )
    @action(detail=True, methods=["post"], url_path="rotate-key")
    def rotate_key(self, request: Request, pk=None) -> Response:
        participant = self.get_object()
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with (
            service_errors(rename={"public_keys": "public_key"}, conflict=True),
            audited(request=request, action="participant_key_rotate", target=participant),
        ):
            participant = participant_services.participant_key_rotate(
                participant=participant, new_public_key=serializer.validated_data["public_key"]
            )
        return self._answer(participant)

    @extend_schema(
        summary="Complete a key rotation: only the new key stays valid",
        request=None,
        responses=serializers.ParticipantSerializer,
    )
    @action(detail=True, methods=["post"], url_path="complete-key-rotation")
    def complete_key_rotation(self, request: Request, pk=None) -> Response:
        participant = self.get_object()
        with (
            service_errors(conflict=True),
            audited(request=request, action="participant_key_rotation_complete", target=participant),
        ):
            participant = participant_services.participant_key_rotation_complete(participant=participant)
        return self._answer(participant)

    @extend_schema(
        summary="Send the CRO's TestMessage to the participant",
        request=serializers.TestMessageSendSerializer,
        responses={201: serializers.MessageSerializer},
    )
    @action(detail=True, methods=["post"], url_path="test-message")
    def test_message(self, request: Request, pk=None) -> Response:
        participant = self.get_object()
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with service_errors(), audited(request=request, action="participant_test_message_send") as audit:
            message = outbound_services.participant_test_message_send(
                participant=participant, version=serializer.validated_data.get("version")
            )
            audit.target = message
        return Response(serializers.MessageSerializer(message).data, status=status.HTTP_201_CREATED)


# ------------------------------------------------------------------------------ registry state
@extend_schema_view(
    list=extend_schema(summary="Congestion points with their connections"),
    retrieve=extend_schema(summary="One congestion point with its connections", parameters=STATE_PARAMETERS),
)
class CongestionPointViewSet(ApiMixin, viewsets.ReadOnlyModelViewSet):
    """Congestion points as known at `as_of` (default: now) with their attributes and connections;
    with `active_on` only those active on that day, with the connections active in them then."""

    queryset = registry_state.congestion_point_base_list()
    serializer_class = serializers.CongestionPointSerializer
    pagination_class = RegistryPagination
    filterset_class = filters.CongestionPointFilter


@extend_schema_view(
    list=extend_schema(summary="AGR portfolios: the connections each AGR represents"),
    retrieve=extend_schema(summary="One AGR's portfolio (by participant id)", parameters=STATE_PARAMETERS),
)
class AgrPortfolioViewSet(ApiMixin, viewsets.ReadOnlyModelViewSet):
    """Each AGR with the connections it represents, as known at `as_of` (default: now); with
    `active_on` only the representations in force on that day. The id is the AGR's participant id."""

    queryset = participant_selectors.participants_of_role(role=Participant.Role.AGR)
    serializer_class = serializers.AgrPortfolioSerializer
    pagination_class = RegistryPagination
    filterset_class = filters.AgrPortfolioFilter

    @extend_schema(
        summary="The connections one AGR represents, a page at a time",
        description="As known at `as_of` (default: now); with `active_on` only the representations in "
        "force that day. Sorted by connection address; pages carry a next link and no count.",
        parameters=STATE_PARAMETERS,
        responses=serializers.ConnectionPeriodSerializer(many=True),
    )
    @action(
        detail=True,
        methods=["get"],
        url_path="connections",
        pagination_class=UncountedPagination,
        serializer_class=serializers.ConnectionPeriodSerializer,
    )
    def connections(self, request: Request, pk=None) -> Response:
        agr = self.get_object()  # 404 unless an AGR with a representation in this state
        state = self.filterset_class(request.query_params, queryset=self.get_queryset(), request=request)
        state.is_valid()  # get_object validated the same parameters
        rows = registry_state.agr_portfolio_connections(
            agr=agr, as_of=state.form.cleaned_data.get("as_of"), day=state.form.cleaned_data.get("active_on")
        )
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(serializers.ConnectionPeriodSerializer(page, many=True).data)

    @extend_schema(
        summary="The answer to this AGR's AGRPortfolioQuery for a Period",
        description="Accepted: per DSO the congestion points active on the Period that hold a connection "
        "this AGR represents then (with only its connections), and its connections in no active congestion "
        "point. Rejected when it represents nothing on the Period (cro-rules §5).",
        parameters=[
            OpenApiParameter("period", OpenApiTypes.DATE, required=True, description="the day asked about"),
            OpenApiParameter("as_of", OpenApiTypes.DATETIME, description=filters.AS_OF_HELP),
        ],
        responses=serializers.AgrPortfolioQueryAnswerSerializer,
    )
    @action(
        detail=True, methods=["get"], url_path="query-answer", filterset_class=None, pagination_class=None
    )
    def query_answer(self, request: Request, pk=None) -> Response:
        # Any AGR, also one without representations: its answer is "No connections available".
        agr = get_object_or_404(participant_selectors.participants_of_role(role=Participant.Role.AGR), pk=pk)
        form = filters.QueryAnswerForm(request.query_params)
        if not form.is_valid():
            raise ValidationError(form.errors)
        period, as_of = form.cleaned_data["period"], form.cleaned_data["as_of"]
        answer = portfolio_queries.agr_portfolio_query_answer(agr=agr, period=period, as_of=as_of)
        data = {
            "agr": agr.domain,
            "period": period,
            "as_of": as_of,
            "result": answer.result.value,
            "rejection_reason": answer.rejection_reason,
            "dso_portfolios": answer.dso_portfolios,
            "unallocated_connections": answer.unallocated_connections,
        }
        return Response(serializers.AgrPortfolioQueryAnswerSerializer(data).data)


# ------------------------------------------------------------------------------ registry history
@extend_schema_view(
    list=extend_schema(summary="History of congestion point attributes (every recorded row)"),
    retrieve=extend_schema(summary="One recorded congestion point version"),
)
class CongestionPointVersionViewSet(ApiMixin, viewsets.ReadOnlyModelViewSet):
    """Every recorded state of congestion point attributes, superseded ones too, in the order recorded.
    Pages carry no `count` (the history grows without bound): follow `next` until it is null."""

    queryset = registry_history.congestion_point_version_history()
    serializer_class = serializers.CongestionPointVersionSerializer
    pagination_class = UncountedPagination
    filterset_class = filters.CongestionPointVersionFilter


@extend_schema_view(
    list=extend_schema(summary="History of connections in congestion points (every recorded row)"),
    retrieve=extend_schema(summary="One recorded membership"),
)
class MembershipViewSet(ApiMixin, viewsets.ReadOnlyModelViewSet):
    """Every recorded connection-in-congestion-point row, superseded ones too, in the order recorded.
    Pages carry no `count` (the history grows without bound): follow `next` until it is null."""

    queryset = registry_history.membership_history()
    serializer_class = serializers.MembershipSerializer
    pagination_class = UncountedPagination
    filterset_class = filters.MembershipFilter


@extend_schema_view(
    list=extend_schema(summary="History of AGR representations (every recorded row)"),
    retrieve=extend_schema(summary="One recorded representation"),
)
class RepresentationViewSet(ApiMixin, viewsets.ReadOnlyModelViewSet):
    """Every recorded AGR representation row, superseded ones too, in the order recorded.
    Pages carry no `count` (the history grows without bound): follow `next` until it is null."""

    queryset = registry_history.representation_history()
    serializer_class = serializers.RepresentationSerializer
    pagination_class = UncountedPagination
    filterset_class = filters.RepresentationFilter


# ------------------------------------------------------------------------------ messages
INCLUDE_PARAMETER = OpenApiParameter(
    "include", OpenApiTypes.STR, enum=["xml"], description="xml: add the raw signed_xml and inner_xml"
)


@extend_schema_view(
    list=extend_schema(summary="The message log (metadata and status; XML with ?include=xml)"),
    retrieve=extend_schema(summary="One message (XML with ?include=xml)", parameters=[INCLUDE_PARAMETER]),
)
class MessageViewSet(ApiMixin, viewsets.ReadOnlyModelViewSet):
    """The UFTP message log, newest first: metadata, processing and delivery status."""

    schema_conflict_actions = ("retry",)
    serializer_class = serializers.MessageSerializer
    filterset_class = filters.MessageFilter

    def _include_xml(self) -> bool:
        return self.request is not None and self.request.query_params.get("include") == "xml"

    def get_queryset(self):
        return message_selectors.message_list(include_xml=self._include_xml())

    def get_serializer_context(self) -> dict:
        return {**super().get_serializer_context(), "include_xml": self._include_xml()}

    @extend_schema(
        summary="Retry the delivery of a failed outbound message",
        request=None,
        responses=serializers.MessageSerializer,
    )
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, pk=None) -> Response:
        message = self.get_object()
        with service_errors(conflict=True), audited(request=request, action="message_retry", target=message):
            message = outbound_services.outbound_message_retry(message=message)
        return Response(self.get_serializer(message).data)


# ------------------------------------------------------------------------------ the CRO
class CroView(ApiMixin, APIView):
    """What the CRO publishes about itself. Its private key is never exposed."""

    schema_error_statuses = ("401", "403")

    @extend_schema(
        summary="The CRO's own domain, public key, mode and versions", responses=serializers.CroSerializer
    )
    def get(self, request: Request) -> Response:
        return Response(serializers.CroSerializer(serializers.CroSerializer.current()).data)
