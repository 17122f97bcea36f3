"""Inbound messages: receive them (the HTTP checks of cro-rules §2) and store them durably."""

from __future__ import annotations

import hashlib
import logging
from functools import cache

from django.conf import settings
from django.db import (
    DEFAULT_DB_ALIAS,
    IntegrityError,
    InterfaceError,
    OperationalError,
    connection,
    connections,
    transaction,
)
from django.utils import timezone

from registry import dispatch
from registry.db import server_binding_cursor
from registry.models import Message, Participant
from registry.services import discovery, participant_keys
from registry.services import participants as participant_services
from registry.services.market_time import time_stamp_aware
from registry.services.rate_limit import client_address_rate_limit_exceeded, sender_rate_limit_exceeded
from registry.services.rows import concrete_attnames
from registry.uftp import codec, errors, messages

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
    sender = (message.sender_domain, message.sender_role)
    transaction.on_commit(lambda: dispatch.message_received(message_pk=message.pk, sender=sender))
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
            return _insert_checking_the_connection(
                lambda: _message_insert(participant=participant, fields=fields)
            )
        with transaction.atomic():  # a savepoint: a failed INSERT leaves the caller's transaction usable
            # (the foreign key is checked at the caller's commit there, in autocommit at once)
            return _message_insert(participant=participant, fields=fields)
    with transaction.atomic():
        # Open mode, first contact: record the participant DNS described.
        participant = participant_services.participant_first_contact_record(
            domain=fields["sender_domain"],
            role=fields["sender_role"],
            public_keys=public_keys,
            endpoint_url=endpoint_url,
        )
        return _message_insert(participant=participant, fields=fields)


@cache
def _message_insert_statement() -> tuple[str, tuple[tuple[str, object, bool], ...]]:
    """The INSERT of one message row, and per column after the primary key: its attribute name,
    the model's default, and whether it holds a date-time. Built once per process from the model."""
    names, columns = [], []
    for field in Message._meta.concrete_fields:
        if field.primary_key:
            continue
        automatic = getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
        if field.has_default() and callable(field.default):  # evaluated once here: same for every row
            raise TypeError(f"Message.{field.name}: a callable default needs a value per row here")
        default = None if automatic else field.get_default()
        names.append(connection.ops.quote_name(str(field.column)))
        columns.append((field.attname, default, field.get_internal_type() == "DateTimeField"))
    sql = "INSERT INTO {} ({}) VALUES ({}) RETURNING {}".format(  # noqa: S608 - names from the model
        connection.ops.quote_name(Message._meta.db_table),
        ", ".join(names),
        ", ".join(["%s"] * len(names)),
        connection.ops.quote_name(str(Message._meta.pk.column)),
    )
    return sql, tuple(columns)


def _message_insert(*, participant: Participant, fields: dict) -> Message:
    """`Message.objects.create(participant=participant, **fields)` without the ORM's cost per call.

    The ORM compiled the same INSERT again for every message and sent it with its values quoted
    into its text: about a fifth of a web worker's CPU under load. Here the statement is built
    once per process (every column of the model, the model's defaults, created_at and updated_at
    now) and, on PostgreSQL, sent through a cursor that binds the values on the server, so
    psycopg prepares it after a few executions on a connection (its prepare_threshold) and then
    sends only the values. The row is the one the ORM would have written.
    """
    sql, columns = _message_insert_statement()
    now = timezone.now()
    values = {**fields, "participant_id": participant.pk, "created_at": now, "updated_at": now}
    if len(values) > len(columns) or not values.keys() <= _message_attnames():
        raise TypeError(f"Message has no field {', '.join(sorted(values.keys() - _message_attnames()))}")
    row = [values.get(attname, default) for attname, default, _ in columns]
    adapt = connections[DEFAULT_DB_ALIAS].ops.adapt_datetimefield_value
    params = [
        adapt(value) if is_datetime and value is not None else value
        for value, (_, _, is_datetime) in zip(row, columns, strict=True)
    ]
    with server_binding_cursor() as cursor:
        cursor.execute(sql, params)
        pk = cursor.fetchone()[0]
    # Every column in the model's order: Django's cheapest way to an instance (as from a query).
    return Message.from_db(DEFAULT_DB_ALIAS, concrete_attnames(Message), [pk, *row])


@cache
def _message_attnames() -> frozenset[str]:
    return frozenset(attname for attname, _, _ in _message_insert_statement()[1])


def _insert_checking_the_connection(insert):
    """`insert()` in autocommit, the INSERT itself checking the persistent database connection.

    Django checks a reused connection with a SELECT 1 before a request's first query
    (CONN_HEALTH_CHECKS): a round trip per message. Here the INSERT is the check: when the
    connection turns out dead (the database restarted), it is closed and the INSERT is sent
    once more on a new connection, so the sender is still answered 200, not 500.
    """
    if connection.connection is not None:
        connection.health_check_done = True  # type: ignore[attr-defined]  # Django's, not in the stubs
    try:
        return insert()
    except (InterfaceError, OperationalError):
        if connection.in_atomic_block:
            raise
        logger.warning("database connection lost, storing the message on a new one", exc_info=True)
        connection.close()
        return insert()


def _too_long_for_the_log(payload: messages.PayloadMessage) -> str | None:
    """The schema bounds no length; the message log (and DNS, for domains) does."""
    limits = {
        "Version": (payload.version, Message._meta.get_field("version").max_length),
        "SenderDomain": (payload.sender_domain, Message._meta.get_field("sender_domain").max_length),
        "RecipientDomain": (payload.recipient_domain, Message._meta.get_field("recipient_domain").max_length),
    }
    for name, (value, limit) in limits.items():
        if limit is not None and len(value) > limit:
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
