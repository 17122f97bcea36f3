"""Inbound messages: receive (the HTTP checks of cro-rules §2) and process (§3) them."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from registry import dispatch
from registry.models import Message, Participant
from registry.selectors import portfolio_queries
from registry.services import discovery, outbound
from registry.services import participants as participant_services
from registry.services import portfolio as portfolio_services
from registry.services.market_time import time_stamp_aware
from registry.services.rate_limit import rate_limit_exceeded
from registry.uftp import codec, errors, messages, versions

XML_CONTENT_TYPES = frozenset({"text/xml", "application/xml"})


class MessageRefused(Exception):
    """The message is refused at the HTTP level with `status` (nothing is stored)."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


class OriginalStillPending(Exception):
    """An identical earlier message is not answered yet: its answer must be copied, so wait."""


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _sender_keys(*, domain: str, role: str) -> tuple[Participant | None, list[str], str]:
    """The sender's participant record (if any), its public keys, and its endpoint."""
    if role == messages.Role.CRO:
        raise MessageRefused(401, "a CRO does not accept messages from a CRO")
    participant = Participant.objects.filter(domain=domain, role=role).first()
    if participant is not None:
        if settings.CRO_MODE == "open" and participant.source == Participant.Source.DNS:
            _dns_participant_refresh(participant)
        return participant, participant.public_keys, participant.endpoint_url
    if settings.CRO_MODE != "open":
        raise MessageRefused(401, f"unknown sender {domain} ({role})")
    try:
        found = discovery.participant_discover(domain=domain, role=role)
    except discovery.DiscoveryError as exc:
        raise MessageRefused(419, str(exc)) from exc
    return None, list(found.public_keys), found.endpoint_url


def _dns_participant_refresh(participant: Participant) -> None:
    """Follow DNS (cached for CRO_DNS_CACHE_SECONDS) for a participant first found there;
    when DNS cannot be reached the recorded key and endpoint still serve."""
    try:
        found = discovery.participant_discover(domain=participant.domain, role=participant.role)
    except discovery.DiscoveryError:
        return
    participant_services.participant_dns_refresh(
        participant=participant, public_keys=list(found.public_keys), endpoint_url=found.endpoint_url
    )


def message_receive(
    *,
    data: bytes,
    content_type: str,
    charset: str | None,
    path_major: int,
    client_address: str,
) -> Message:
    """Check a POSTed SignedMessage in the order of cro-rules §2 and store it durably.

    Raises MessageRefused with the HTTP status; on success the message is committed and
    its processing is enqueued after the commit (registry.dispatch).
    """
    if content_type not in XML_CONTENT_TYPES:
        raise MessageRefused(400, f"Content-Type must be text/xml or application/xml, not {content_type!r}")
    if charset and charset.lower().replace("_", "-") not in {"utf-8", "utf8"}:
        raise MessageRefused(400, f"charset must be UTF-8, not {charset!r}")

    # The rate limit is answered before any parse error, so count the sender first: by
    # (domain, role) when the envelope is readable, by client address when it is not.
    envelope = envelope_error = None
    try:
        envelope = codec.parse_signed_message(data, max_bytes=settings.CRO_MAX_MESSAGE_BYTES)
    except errors.UFTPError as exc:
        envelope_error = exc
    sender_key = f"{envelope.sender_domain}/{envelope.sender_role}" if envelope else f"ip/{client_address}"
    if rate_limit_exceeded(sender_key=sender_key):
        raise MessageRefused(429, "rate limit exceeded, try again later")
    if envelope is None:
        raise MessageRefused(400, f"invalid SignedMessage: {envelope_error}")
    if not _is_utf8(data):
        raise MessageRefused(400, "the SignedMessage is not UTF-8")

    participant, public_keys, endpoint_url = _sender_keys(
        domain=envelope.sender_domain, role=envelope.sender_role
    )
    try:
        inner_xml = codec.open_body(envelope.body, public_keys)
    except errors.UFTPError as exc:
        raise MessageRefused(401, f"signature does not verify: {exc}") from exc
    try:
        payload = codec.parse_message(
            inner_xml, path_major=path_major, max_bytes=settings.CRO_MAX_MESSAGE_BYTES
        )
    except errors.UFTPError as exc:
        raise MessageRefused(400, f"invalid message: {exc}") from exc
    if not _is_utf8(inner_xml):
        raise MessageRefused(400, "the inner message is not UTF-8")
    too_long = _too_long_for_the_log(payload)
    if too_long:
        raise MessageRefused(400, f"invalid message: {too_long}")

    with transaction.atomic():
        if participant is None:
            # Open mode, first contact: record the participant DNS described.
            participant = participant_services.participant_first_contact_record(
                domain=envelope.sender_domain,
                role=envelope.sender_role,
                public_keys=public_keys,
                endpoint_url=endpoint_url,
            )
        message = Message.objects.create(
            direction=Message.Direction.INBOUND,
            status=Message.Status.RECEIVED,
            message_type=payload.message_type,
            version=payload.version,
            path_major=path_major,
            sender_domain=envelope.sender_domain,
            sender_role=envelope.sender_role,
            recipient_domain=payload.recipient_domain,
            recipient_role=messages.Role.CRO,
            participant=participant,
            message_id=payload.message_id,
            conversation_id=payload.conversation_id,
            reference_message_id=getattr(payload, "reference_message_id", None) or "",
            time_stamp=time_stamp_aware(payload.time_stamp),
            signed_xml=data.decode("utf-8"),
            inner_xml=inner_xml.decode("utf-8"),
            body_digest=_digest(inner_xml),
        )
        transaction.on_commit(lambda: dispatch.message_processing_enqueue(message_pk=message.pk))
    return message


def _too_long_for_the_log(payload: messages.PayloadMessage) -> str | None:
    """The schema bounds no length; the message log (and DNS, for domains) does."""
    limits = {
        "Version": (payload.version, Message._meta.get_field("version").max_length),
        "SenderDomain": (payload.sender_domain, Message._meta.get_field("sender_domain").max_length),
        "RecipientDomain": (payload.recipient_domain, Message._meta.get_field("recipient_domain").max_length),
    }
    for name, (value, limit) in limits.items():
        if len(value) > limit:
            return f"{name} is longer than {limit} characters"
    return None


def _is_utf8(data: bytes) -> bool:
    # lxml honours an XML declaration's encoding; UFTP messages are UTF-8 only.
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# --------------------------------------------------------------------------- processing


@dataclass(frozen=True)
class Verdict:
    result: messages.Result
    reason: str | None = None
    # Query answers and the copy of an earlier answer carry the whole response.
    response: messages.PayloadMessage | None = None


def message_process(*, message_pk: int) -> Message | None:
    """Run the functional checks and the registry for one inbound message, exactly once.

    Returns the outbound response (None when there is nothing to answer or the message was
    processed already). Raises OriginalStillPending when it must wait for a twin.
    """
    Message.objects.filter(pk=message_pk, status=Message.Status.RECEIVED).update(
        status=Message.Status.PROCESSING, updated_at=timezone.now()
    )
    with transaction.atomic():
        message = (
            Message.objects.select_for_update(of=("self",))
            .select_related("participant")
            .filter(pk=message_pk, direction=Message.Direction.INBOUND)
            .first()
        )
        if message is None or message.status not in (Message.Status.RECEIVED, Message.Status.PROCESSING):
            return None
        payload = codec.parse_message(
            message.inner_xml.encode("utf-8"),
            path_major=message.path_major or 3,
            max_bytes=settings.CRO_MAX_MESSAGE_BYTES,
        )

        if isinstance(payload, messages.TestMessageResponse):
            _test_response_record(message=message, payload=payload)
            return None

        verdict = _evaluate(message=message, payload=payload)
        response_payload = verdict.response or _response_for(
            message=message, payload=payload, result=verdict.result, reason=verdict.reason
        )
        message.status = Message.Status.PROCESSED
        message.result = verdict.result.value
        message.rejection_reason = verdict.reason or ""
        message.processed_at = timezone.now()
        message.last_error = ""
        message.save(
            update_fields=["status", "result", "rejection_reason", "processed_at", "last_error", "updated_at"]
        )
        return outbound.outbound_message_create(
            payload=response_payload, recipient=message.participant, request=message
        )


def _metadata_for_response(*, payload: messages.PayloadMessage, recipient_domain: str) -> dict:
    return {
        "version": payload.version,
        "sender_domain": settings.CRO_DOMAIN,
        "recipient_domain": recipient_domain,
        "time_stamp": timezone.now(),
        "message_id": str(uuid.uuid4()),
        "conversation_id": payload.conversation_id,
    }


def _response_for(
    *, message: Message, payload: messages.PayloadMessage, result: messages.Result, reason: str | None
) -> messages.PayloadMessage:
    """The response to `payload` with no content beyond Result (queries get empty answers).

    It goes to the signer of the envelope, which may differ from the inner SenderDomain
    when the message is rejected as Invalid Sender.
    """
    metadata = _metadata_for_response(payload=payload, recipient_domain=message.sender_domain)
    response_type = messages.RESPONSE_FOR[type(payload)]
    if response_type is messages.TestMessageResponse:
        return messages.TestMessageResponse(
            **metadata, reference_message_id=payload.message_id, result=result, rejection_reason=reason
        )
    extra = {}
    if response_type in (messages.DSOPortfolioQueryResponse, messages.AGRPortfolioQueryResponse):
        extra = {"time_zone": payload.time_zone, "period": payload.period}
    return response_type(
        **metadata,
        reference_message_id=payload.message_id,
        result=result,
        rejection_reason=reason if result == messages.Result.REJECTED else None,
        **extra,
    )


def _rejected(reason: str) -> Verdict:
    return Verdict(result=messages.Result.REJECTED, reason=reason)


def _evaluate(*, message: Message, payload: messages.PayloadMessage) -> Verdict:
    """cro-rules §3, in order."""
    # 1. Invalid Sender
    if payload.sender_domain != message.sender_domain:
        return _rejected(
            f"Invalid Sender: SenderDomain {payload.sender_domain} differs from the "
            f"SignedMessage's {message.sender_domain}"
        )
    allowed_roles = messages.ALLOWED_SENDER_ROLES[type(payload)]
    if message.sender_role not in allowed_roles:
        return _rejected(f"Invalid Sender: a {message.sender_role} may not send {payload.message_type}")
    # 2. Unknown Recipient
    if payload.recipient_domain != settings.CRO_DOMAIN:
        return _rejected(f"Unknown Recipient: {payload.recipient_domain}")
    # 3. Barred Sender
    if message.participant.is_barred:
        return _rejected("Barred Sender")
    # 4. Version
    if payload.version not in versions.SUPPORTED_VERSIONS:
        return _rejected(f"Version {payload.version} is not supported")
    if versions.SUPPORTED_VERSIONS[payload.version].major != message.path_major:
        return _rejected(f"Version {payload.version} does not match the endpoint v{message.path_major}")
    # 5 and 6. Already Submitted / Duplicate Identifier
    twin = (
        Message.objects.filter(
            direction=Message.Direction.INBOUND,
            sender_domain=message.sender_domain,
            message_id=message.message_id,
            pk__lt=message.pk,
        )
        .order_by("pk")
        .first()
    )
    if twin is not None:
        if twin.body_digest != message.body_digest:
            return _rejected(
                f"Duplicate Identifier: MessageID {message.message_id} was used for another message"
            )
        return _already_submitted(twin=twin, payload=payload)
    # 7. TimeZone
    time_zone = getattr(payload, "time_zone", None)
    if time_zone is not None and time_zone != settings.CRO_TIME_ZONE:
        mismatch = _time_zone_mismatch(time_zone=time_zone, payload=payload)
        if mismatch:
            return _rejected(f"TimeZone rejected: {mismatch}")
    # 8 to 10: the registry.
    return _registry_verdict(message=message, payload=payload)


# An open end is checked this far ahead (cro-rules §3.7).
OPEN_END_HORIZON_DAYS = 5 * 365 + 1


def _message_days(payload: messages.PayloadMessage) -> tuple[dt.date, dt.date]:
    """The first and last Period a message covers (an open end: the next five years)."""
    period = getattr(payload, "period", None)
    if period is not None:
        return period, period
    listed: list[messages.ConnectionPeriod | messages.CongestionPointUpdate] = []
    for cp in getattr(payload, "congestion_points", ()):
        listed.append(cp)
        listed.extend(cp.connections)
    listed.extend(getattr(payload, "connections", ()))
    if not listed:
        today = timezone.localdate()
        return today, today
    first = min(item.start_period for item in listed)
    ends = [item.end_period for item in listed]
    if any(end is None for end in ends):
        start_of_horizon = max(max(item.start_period for item in listed), timezone.localdate())
        return first, start_of_horizon + dt.timedelta(days=OPEN_END_HORIZON_DAYS)
    return first, max(ends)


def _time_zone_mismatch(*, time_zone: str, payload: messages.PayloadMessage) -> str | None:
    """Why `time_zone` cannot stand for the market zone over the message's Periods, or None.

    Another zone is accepted when its UTC offset equals the market zone's at every instant of
    the Periods (Europe/Brussels beside Europe/Amsterdam): then its calendar days are the
    market's days. Offsets are compared once a day, and every quarter hour on a day where
    either zone changes its offset.
    """
    market_zone = ZoneInfo(settings.CRO_TIME_ZONE)
    try:
        zone = ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        return f"{time_zone[:100]} is not a known time zone (market zone: {settings.CRO_TIME_ZONE})"
    first_day, last_day = _message_days(payload)
    start = dt.datetime.combine(first_day, dt.time(), tzinfo=zone).astimezone(dt.UTC)
    end = dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time(), tzinfo=zone).astimezone(dt.UTC)

    def offsets(instant: dt.datetime) -> tuple[dt.timedelta | None, dt.timedelta | None]:
        return instant.astimezone(zone).utcoffset(), instant.astimezone(market_zone).utcoffset()

    def differs_at(instant: dt.datetime) -> str | None:
        own, market = offsets(instant)
        if own == market:
            return None
        return (
            f"{time_zone} is not the market time zone {settings.CRO_TIME_ZONE} and its UTC offset "
            f"differs at {instant:%Y-%m-%dT%H:%MZ}"
        )

    instant, previous = start, offsets(start)
    if differs := differs_at(start):
        return differs
    while instant < end:
        following = min(instant + dt.timedelta(days=1), end)
        current = offsets(following)
        if current != previous:  # an offset changes within the day: look closer
            moment = instant
            while moment < following:
                if differs := differs_at(moment):
                    return differs
                moment += dt.timedelta(minutes=15)
        if differs := differs_at(following):
            return differs
        instant, previous = following, current
    return None


def _already_submitted(*, twin: Message, payload: messages.PayloadMessage) -> Verdict:
    """Answer as the first time was answered: same Result, same content, new MessageID."""
    if twin.status not in (Message.Status.PROCESSED,):
        raise OriginalStillPending(f"message {twin.pk} is not processed yet")
    earlier = twin.responses.filter(direction=Message.Direction.OUTBOUND).order_by("pk").first()
    result = messages.Result(twin.result) if twin.result else messages.Result.ACCEPTED
    if earlier is None:
        return Verdict(result=result, reason=twin.rejection_reason or None)
    earlier_payload = codec.parse_any(
        earlier.inner_xml.encode("utf-8"),
        path_major=twin.path_major or 3,
        max_bytes=settings.CRO_MAX_MESSAGE_BYTES,
    )
    copy = dataclasses.replace(earlier_payload, message_id=str(uuid.uuid4()), time_stamp=timezone.now())
    return Verdict(result=result, reason=twin.rejection_reason or None, response=copy)


def _registry_verdict(*, message: Message, payload: messages.PayloadMessage) -> Verdict:
    participant = message.participant
    if isinstance(payload, messages.DSOPortfolioUpdate):
        outcome = portfolio_services.dso_portfolio_update_apply(
            dso=participant, message=payload, source_message=message
        )
        return _outcome_verdict(outcome)
    if isinstance(payload, messages.AGRPortfolioUpdate):
        outcome = portfolio_services.agr_portfolio_update_apply(
            agr=participant, message=payload, source_message=message
        )
        return _outcome_verdict(outcome)
    if isinstance(payload, messages.DSOPortfolioQuery):
        answer = portfolio_queries.dso_portfolio_query_answer(
            dso=participant, entity_address=payload.entity_address, period=payload.period
        )
        return _query_verdict(
            message=message, payload=payload, answer=answer, congestion_point=answer.congestion_point
        )
    if isinstance(payload, messages.AGRPortfolioQuery):
        answer = portfolio_queries.agr_portfolio_query_answer(agr=participant, period=payload.period)
        return _query_verdict(
            message=message,
            payload=payload,
            answer=answer,
            dso_portfolios=answer.dso_portfolios,
            unallocated_connections=answer.unallocated_connections,
        )
    # TestMessage: nothing to check beyond §3 1-7.
    return Verdict(result=messages.Result.ACCEPTED)


def _query_verdict(*, message: Message, payload: messages.PayloadMessage, answer, **content) -> Verdict:
    """A query's verdict: Rejected with the selector's reason, or Accepted carrying `content`."""
    if not answer.accepted:
        return _rejected(answer.rejection_reason)
    response = _response_for(message=message, payload=payload, result=messages.Result.ACCEPTED, reason=None)
    return Verdict(result=messages.Result.ACCEPTED, response=dataclasses.replace(response, **content))


def _outcome_verdict(outcome) -> Verdict:
    if outcome.accepted:
        return Verdict(result=messages.Result.ACCEPTED)
    return _rejected(outcome.rejection_reason)


def _test_response_record(*, message: Message, payload: messages.TestMessageResponse) -> None:
    """Record a TestMessageResponse against the CRO's TestMessage it answers (nothing is sent)."""
    candidates = Message.objects.filter(
        direction=Message.Direction.OUTBOUND,
        message_type=messages.TestMessage.message_type,
        recipient_domain=message.sender_domain,
        recipient_role=message.sender_role,
    )
    if payload.reference_message_id:
        candidates = candidates.filter(message_id=payload.reference_message_id)
    else:
        candidates = candidates.filter(conversation_id=payload.conversation_id)
    test_message = candidates.order_by("-pk").first()
    message.request = test_message
    message.status = Message.Status.PROCESSED
    message.result = payload.result.value if payload.result else messages.Result.ACCEPTED.value
    message.rejection_reason = payload.rejection_reason or ""
    message.processed_at = timezone.now()
    message.save(
        update_fields=["request", "status", "result", "rejection_reason", "processed_at", "updated_at"]
    )
