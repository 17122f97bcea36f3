"""Inbound messages: receive (the HTTP checks of cro-rules §2) and process (§3) them."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import uuid
import zlib
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from registry import dispatch
from registry.models import Message, Participant
from registry.selectors import portfolio_queries
from registry.services import discovery, outbound, participant_keys
from registry.services import participants as participant_services
from registry.services import portfolio as portfolio_services
from registry.services.market_time import time_stamp_aware
from registry.services.rate_limit import client_address_rate_limit_exceeded, sender_rate_limit_exceeded
from registry.uftp import codec, errors, messages, versions

logger = logging.getLogger("registry.ops")

XML_CONTENT_TYPES = frozenset({"text/xml", "application/xml"})

# A refusal never echoes unbounded input: its reason is cut to this many characters.
REFUSAL_REASON_MAX_CHARS = 300
# Envelope attributes are bounded before anything uses them (cache keys, lookups, the log):
# an InternetDomain is at most 253 characters.
# (SenderRole is one of three words by then: the codec checked it.)
ENVELOPE_ATTRIBUTE_MAX_CHARS = {"SenderDomain": 253}


class MessageRefused(Exception):
    """The message is refused at the HTTP level with `status` (nothing is stored)."""

    def __init__(self, status: int, reason: str):
        reason = bounded_reason(reason)
        super().__init__(reason)
        self.status = status
        self.reason = reason


def bounded_reason(reason: str) -> str:
    """`reason` cut to REFUSAL_REASON_MAX_CHARS: refusals may quote input, never all of it."""
    if len(reason) <= REFUSAL_REASON_MAX_CHARS:
        return reason
    return reason[: REFUSAL_REASON_MAX_CHARS - 1] + "…"


class OriginalStillPending(Exception):
    """An identical earlier message is not answered yet: its answer must be copied, so wait."""


class SenderMessageFailed(Exception):
    """Processing a message failed unexpectedly (rolled back, it stays pending)."""

    def __init__(self, *, message_pk: int, sender: tuple[str, str]):
        super().__init__(f"processing message {message_pk} failed")
        self.message_pk = message_pk
        self.sender = sender


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _sender_keys(*, domain: str, role: str, fresh: bool = False) -> tuple[Participant | None, list[str], str]:
    """The sender's participant record (if any), its public keys, and its endpoint."""
    if role == messages.Role.CRO:
        raise MessageRefused(401, "a CRO does not accept messages from a CRO")
    participant = participant_keys.participant_cached(domain=domain, role=role, fresh=fresh)
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


def _body_open(*, envelope) -> tuple[Participant | None, list[str], str, bytes]:
    """Verify the signature with the sender's keys; a failure with cached keys reads them again."""
    participant, public_keys, endpoint_url = _sender_keys(
        domain=envelope.sender_domain, role=envelope.sender_role
    )
    try:
        return participant, public_keys, endpoint_url, codec.open_body(envelope.body, public_keys)
    except errors.UFTPError as exc:
        failure = exc
    if participant is not None and participant_keys.is_cached(
        domain=envelope.sender_domain, role=envelope.sender_role
    ):
        participant, fresh_keys, endpoint_url = _sender_keys(
            domain=envelope.sender_domain, role=envelope.sender_role, fresh=True
        )
        if fresh_keys != public_keys:
            try:
                return participant, fresh_keys, endpoint_url, codec.open_body(envelope.body, fresh_keys)
            except errors.UFTPError as exc:
                failure = exc
    raise MessageRefused(401, f"signature does not verify: {failure}")


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
    _refuse_before_parsing(content_type=content_type, charset=charset, client_address=client_address)
    envelope = _envelope_parse(data)

    participant, public_keys, endpoint_url, inner_xml = _body_open(envelope=envelope)
    _refuse_over_sender_limit(envelope)
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

    fields = {
        "direction": Message.Direction.INBOUND,
        "status": Message.Status.RECEIVED,
        "message_type": payload.message_type,
        "version": payload.version,
        "path_major": path_major,
        "sender_domain": envelope.sender_domain,
        "sender_role": envelope.sender_role,
        "recipient_domain": payload.recipient_domain,
        "recipient_role": messages.Role.CRO,
        "message_id": payload.message_id,
        "conversation_id": payload.conversation_id,
        "reference_message_id": getattr(payload, "reference_message_id", None) or "",
        "time_stamp": time_stamp_aware(payload.time_stamp),
        "signed_xml": data.decode("utf-8"),
        "inner_xml": inner_xml.decode("utf-8"),
        "body_digest": _digest(inner_xml),
    }
    try:
        message = _message_store(
            participant=participant, fields=fields, public_keys=public_keys, endpoint_url=endpoint_url
        )
    except IntegrityError:
        if participant is None:
            raise
        # The cached participant is gone (deleted, or replaced, by another process): read it
        # again, check the signature against what is registered now, and store once more.
        participant_keys.forget(domain=envelope.sender_domain, role=envelope.sender_role)
        participant, public_keys, endpoint_url, _ = _body_open(envelope=envelope)
        message = _message_store(
            participant=participant, fields=fields, public_keys=public_keys, endpoint_url=endpoint_url
        )
    # Committed (in autocommit on_commit runs at once): registry.dispatch decides what follows.
    transaction.on_commit(lambda: dispatch.message_received(message_pk=message.pk))
    return message


def _refuse_before_parsing(*, content_type: str, charset: str | None, client_address: str) -> None:
    """The checks of cro-rules §2 that need no parsing: Content-Type, then the client address's
    rate limit. Every request counts against its address, never against the sender it claims."""
    if content_type not in XML_CONTENT_TYPES:
        raise MessageRefused(400, f"Content-Type must be text/xml or application/xml, not {content_type!r}")
    if charset and charset.lower().replace("_", "-") not in {"utf-8", "utf8"}:
        raise MessageRefused(400, f"charset must be UTF-8, not {charset!r}")
    if client_address_rate_limit_exceeded(client_address=client_address):
        raise MessageRefused(429, "rate limit exceeded, try again later")


def _envelope_parse(data: bytes) -> codec.SignedEnvelope:
    """The outer SignedMessage, refused (400) when invalid, over-long or not UTF-8."""
    try:
        envelope = codec.parse_signed_message(data, max_bytes=settings.CRO_MAX_MESSAGE_BYTES)
    except errors.UFTPError as exc:
        raise MessageRefused(400, f"invalid SignedMessage: {exc}") from exc
    values = {"SenderDomain": envelope.sender_domain}
    for name, limit in ENVELOPE_ATTRIBUTE_MAX_CHARS.items():
        if len(values[name]) > limit:
            raise MessageRefused(400, f"invalid SignedMessage: {name} is longer than {limit} characters")
    if not _is_utf8(data):
        raise MessageRefused(400, "the SignedMessage is not UTF-8")
    return envelope


def _refuse_over_sender_limit(envelope: codec.SignedEnvelope) -> None:
    """Counted only once the signature verified: nobody else can spend a sender's allowance."""
    if sender_rate_limit_exceeded(sender_domain=envelope.sender_domain, sender_role=envelope.sender_role):
        raise MessageRefused(429, "rate limit exceeded, try again later")


def _message_store(
    *, participant: Participant | None, fields: dict, public_keys: list[str], endpoint_url: str
) -> Message:
    if participant is not None:
        if not connection.in_atomic_block:
            # The usual case: one INSERT ... RETURNING, committed by itself (autocommit).
            return Message.objects.create(participant=participant, **fields)
        with transaction.atomic():  # a savepoint: a failed INSERT leaves the caller's transaction usable
            # (the foreign key is checked at the caller's commit there, in autocommit at once)
            return Message.objects.create(participant=participant, **fields)
    with transaction.atomic():
        # Open mode, first contact: record the participant DNS described.
        participant = participant_services.participant_first_contact_record(
            domain=fields["sender_domain"],
            role=fields["sender_role"],
            public_keys=public_keys,
            endpoint_url=endpoint_url,
        )
        return Message.objects.create(participant=participant, **fields)


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
    # lxml honours an XML declaration's encoding; UFTP messages are UTF-8 only. A NUL byte is
    # valid UTF-8 but never XML: it betrays UTF-16/32 (and PostgreSQL text cannot hold it).
    if b"\x00" in data:
        return False
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
    processed already); its delivery is enqueued after the commit. Raises
    OriginalStillPending when it must wait for a twin.
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
        return _process_locked(message=message, enqueue_delivery=True)


@dataclass(frozen=True)
class Processed:
    message_pks: list[int]
    # The responses stored as queued, in order, not yet delivered.
    responses: list[Message]


_PENDING_STATUSES = (Message.Status.RECEIVED, Message.Status.PROCESSING)


def _sender_lock_try(*, domain: str, role: str) -> bool:
    """A transaction-scoped PostgreSQL advisory lock on one sender: one drain at a time works on
    a sender's messages, so they are processed (and answered) in the order they arrived."""
    key = zlib.crc32(f"cro-sender:{domain}/{role}".encode())
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", [0x5E4D, key - 2**31])
        return bool(cursor.fetchone()[0])


def message_process_next(
    *, batch: int = 1, skip_senders: frozenset[tuple[str, str]] = frozenset()
) -> Processed | None:
    """Process the oldest pending inbound messages (up to `batch`, in pk order) of one sender
    no other drain holds, in ONE transaction (one commit for the batch); their responses are
    stored but not delivered (the caller delivers them after the commit). None when nothing is
    left that this drain may take.

    A drain killed halfway leaves its batch uncommitted, so still received: the next drain (or
    the sweep) takes it again from the start. Raises OriginalStillPending like message_process,
    and SenderMessageFailed (the whole batch rolled back) when processing raises.
    """
    with transaction.atomic():
        candidates = (
            Message.objects.filter(direction=Message.Direction.INBOUND, status__in=_PENDING_STATUSES)
            .order_by("pk")
            .values_list("sender_domain", "sender_role")[:64]
        )
        tried = set(skip_senders)
        for sender in candidates:
            if sender in tried:
                continue
            tried.add(sender)
            if not _sender_lock_try(domain=sender[0], role=sender[1]):
                continue  # another drain answers this sender, in order
            batch_messages = list(
                Message.objects.select_for_update(of=("self",))
                .select_related("participant")
                .filter(
                    direction=Message.Direction.INBOUND,
                    status__in=_PENDING_STATUSES,
                    sender_domain=sender[0],
                    sender_role=sender[1],
                )
                .order_by("pk")[:batch]
            )
            if not batch_messages:
                continue
            responses = []
            for message in batch_messages:
                try:
                    response = _process_locked(message=message, enqueue_delivery=False)
                except OriginalStillPending:
                    raise
                except Exception as exc:
                    raise SenderMessageFailed(message_pk=message.pk, sender=sender) from exc
                if response is not None:
                    responses.append(response)
            return Processed(message_pks=[m.pk for m in batch_messages], responses=responses)
    return None


def _process_locked(*, message: Message, enqueue_delivery: bool) -> Message | None:
    """The checks and the registry for `message`, locked in the caller's transaction."""
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
        payload=response_payload,
        recipient=message.participant,
        request=message,
        enqueue_delivery=enqueue_delivery,
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
    # A twin given up on (processing attempts exhausted) was answered too: copy that answer.
    if twin.status not in (Message.Status.PROCESSED, Message.Status.FAILED):
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


# --------------------------------------------------------------------------- processing attempts
# A message whose processing keeps failing (a bug, data the codec cannot write) must not be
# dispatched again for ever: each attempt is counted on the row (Message.attempts, which only
# deliveries use otherwise), and after settings.CRO_MAX_PROCESSING_ATTEMPTS the message is failed
# and answered Rejected with a generic reason; the administrators find it among the failed ones.

PROCESSING_FAILED_REASON = "Processing failed: the CRO could not process this message; its operators are told"


def message_processing_attempt_begin(*, message_pk: int) -> bool:
    """Count one processing attempt (committed at once, so a crash counts too).

    False when the message needs no processing or has had its attempts: then it is given up on.
    """
    counted = Message.objects.filter(
        pk=message_pk,
        direction=Message.Direction.INBOUND,
        status__in=(Message.Status.RECEIVED, Message.Status.PROCESSING),
        attempts__lt=settings.CRO_MAX_PROCESSING_ATTEMPTS,
    ).update(attempts=F("attempts") + 1, updated_at=timezone.now())
    if counted:
        return True
    message_processing_give_up(message_pk=message_pk)
    return False


def message_processing_attempt_uncount(*, message_pk: int) -> None:
    """Waiting for an identical earlier message is no failed attempt."""
    Message.objects.filter(pk=message_pk, attempts__gt=0).update(attempts=F("attempts") - 1)


def message_processing_failure_record(*, message_pk: int, error: BaseException) -> None:
    """Keep the error of a failed attempt for the administrators (the attempt's transaction is gone)."""
    Message.objects.filter(pk=message_pk).update(
        last_error=f"{error.__class__.__name__}: {error}"[:2000], updated_at=timezone.now()
    )


def message_processing_give_up(*, message_pk: int, reason: str = "") -> Message | None:
    """Fail an inbound message still waiting for processing and answer it Rejected if it can be read.

    Returns the response (None when the message is final already or cannot be answered).
    """
    with transaction.atomic():
        message = (
            Message.objects.select_for_update(of=("self",))
            .select_related("participant")
            .filter(
                pk=message_pk,
                direction=Message.Direction.INBOUND,
                status__in=(Message.Status.RECEIVED, Message.Status.PROCESSING),
            )
            .first()
        )
        if message is None:
            return None
        why = reason or f"gave up after {message.attempts} processing attempts"
        message.status = Message.Status.FAILED
        message.result = messages.Result.REJECTED.value
        message.rejection_reason = PROCESSING_FAILED_REASON
        message.last_error = f"{message.last_error} ({why})" if message.last_error else why
        message.processed_at = timezone.now()
        message.save(
            update_fields=["status", "result", "rejection_reason", "last_error", "processed_at", "updated_at"]
        )
        logger.error("inbound message %s (%s) failed: %s", message.pk, message.message_id, message.last_error)
        try:
            with transaction.atomic():
                payload = codec.parse_message(
                    message.inner_xml.encode("utf-8"),
                    path_major=message.path_major or 3,
                    max_bytes=settings.CRO_MAX_MESSAGE_BYTES,
                )
                if isinstance(payload, messages.TestMessageResponse) or message.participant is None:
                    return None
                response = _response_for(
                    message=message,
                    payload=payload,
                    result=messages.Result.REJECTED,
                    reason=PROCESSING_FAILED_REASON,
                )
                return outbound.outbound_message_create(
                    payload=response, recipient=message.participant, request=message
                )
        except Exception:
            logger.exception("inbound message %s cannot be answered", message.pk)
            return None
