"""Processing an inbound message (cro-rules §3): the functional checks, the registry, the response."""

from __future__ import annotations

import dataclasses
import functools
import logging
import uuid
import zlib
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from registry.db import server_binding_cursor
from registry.models import Message, Participant
from registry.selectors import portfolio_queries
from registry.services import outbound
from registry.services import portfolio as portfolio_services
from registry.services.rows import concrete_attnames, rows_update_and_insert
from registry.services.time_zones import time_zone_mismatch
from registry.uftp import codec, messages, versions

logger = logging.getLogger("registry.ops")


class OriginalStillPending(Exception):
    """An identical earlier message is not answered yet: its answer must be copied, so wait."""


class SenderMessageFailed(Exception):
    """Processing a message failed unexpectedly (rolled back, it stays pending)."""

    def __init__(self, *, message_pk: int, sender: tuple[str, str]):
        super().__init__(f"processing message {message_pk} failed")
        self.message_pk = message_pk
        self.sender = sender


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
        return _process_locked(message=message)


@dataclass(frozen=True)
class Processed:
    # The inbound messages processed, in order, as stored.
    messages: list[Message]
    # Their responses, stored queued and claimed for the caller, in order, not yet delivered.
    responses: list[Message]

    @property
    def message_pks(self) -> list[int]:
        return [message.pk for message in self.messages]


_PENDING_STATUSES = (Message.Status.RECEIVED, Message.Status.PROCESSING)


def _sender_lock_key(*, domain: str, role: str) -> list[int]:
    """The key of a transaction-scoped PostgreSQL advisory lock on one sender: one drain at a
    time works on a sender's messages (it tries the lock with its batch read, _pending_batch),
    so they are processed (and answered) in the order they arrived."""
    return [0x5E4D, zlib.crc32(f"cro-sender:{domain}/{role}".encode()) - 2**31]


def sender_lock(*, domain: str, role: str) -> None:
    """Wait for the sender's lock (see _sender_lock_key) until the transaction ends: a bulk load of a
    DSO's portfolio holds it, so no drain applies that DSO's messages in the middle of the load."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", _sender_lock_key(domain=domain, role=role))


def _pending_senders() -> list[tuple[str, str]]:
    """(domain, role) of the senders with pending inbound messages, the one waiting longest
    first (at most 64). Grouped by sender: a backlog of one sender must not hide the others (a
    drain takes the next sender whose lock is free). A cursor, not a queryset: this runs before
    every batch, on the path of each answer; it reads message_inbound_pending_idx only."""
    with server_binding_cursor() as cursor:
        cursor.execute(_pending_senders_statement())
        return [(domain, role) for domain, role in cursor.fetchall()]


@functools.cache
def _pending_statuses_sql() -> str:
    """`m.direction = 'in' AND m.status IN (...)` with the values in the text, not parameters:
    a prepared statement's generic plan can use the partial index of the pending messages only
    when its condition is written out (a parameter could be any value)."""
    quote = connection.ops.quote_name
    statuses = ", ".join(f"'{status.value}'" for status in _PENDING_STATUSES)
    return f"m.{quote('direction')} = '{Message.Direction.INBOUND.value}' AND m.{quote('status')} IN ({statuses})"


@functools.cache
def _pending_senders_statement() -> str:
    table = connection.ops.quote_name(Message._meta.db_table)
    return (
        f"SELECT m.sender_domain, m.sender_role FROM {table} m WHERE {_pending_statuses_sql()}"  # noqa: S608 (constants)
        " GROUP BY m.sender_domain, m.sender_role ORDER BY min(m.id) LIMIT 64"
    )


def _senders_to_try(first: tuple[str, str] | None):
    """`first` (when given), then the pending senders (read only if it had nothing to take)."""
    if first is not None:
        yield first
    yield from _pending_senders()


def _pending_batch(*, sender: tuple[str, str], batch: int) -> list[Message] | None:
    """Try the sender's lock (`_sender_lock_key`), and in the same statement, when it is ours, read
    the sender's oldest pending inbound messages, locked (message_inbound_pending_idx), each
    with its participant and `earlier_twin`: the pk of the first earlier inbound message with
    the same sender and MessageID (cro-rules §3, 5 and 6), or None, read with the batch so a
    message without one costs no statement of its own. None when another drain holds the sender.

    One statement built once per process: the ORM compiled this query (a join, a subquery, FOR
    UPDATE) again before every batch, for more CPU than the database spent running it; and the
    lock and the read are one round trip on the path of each answer. Bound on the server, so
    psycopg prepares it and PostgreSQL plans it once per connection.
    """
    statement, converters = _pending_batch_statement()
    with server_binding_cursor() as cursor:
        cursor.execute(
            statement,
            [*_sender_lock_key(domain=sender[0], role=sender[1]), sender[0], sender[1], batch],
        )
        rows = cursor.fetchall()
    if not rows or not rows[0][0]:
        return None  # the lock is another drain's
    message_fields, participant_fields = concrete_attnames(Message), concrete_attnames(Participant)
    found = []
    for row in rows:
        if row[1] is None:  # held, and nothing pending: the one row of the outer join
            continue
        values = [
            value if convert is None else convert(value)
            for value, convert in zip(row[1:], converters, strict=True)
        ]
        message = Message.from_db(connection.alias, message_fields, values[: len(message_fields)])
        participant_values = values[len(message_fields) : -1]
        participant = None
        if participant_values[0] is not None:  # its primary key: the join found the participant
            participant = Participant.from_db(connection.alias, participant_fields, participant_values)
        Message.participant.field.set_cached_value(message, participant)
        message.earlier_twin = values[-1]  # type: ignore[attr-defined]
        found.append(message)
    return found


@functools.cache
def _pending_batch_statement() -> tuple[str, list]:
    """The statement of _pending_batch, and per column after the lock's the function that turns
    the database's value into the model's (Django's converters, e.g. JSON), or None.

    The lock is taken first (a materialized CTE runs once, before the read that needs it); the
    read is a LATERAL subquery that returns nothing unless the lock is held, outer-joined so
    that one row always says whether it is."""
    quote = connection.ops.quote_name
    messages_table, participants_table = quote(Message._meta.db_table), quote(Participant._meta.db_table)
    columns: list[str] = []
    converters: list = []
    for alias, model in (("m", Message), ("p", Participant)):
        for field in model._meta.concrete_fields:
            columns.append(f"{alias}.{quote(str(field.column))} AS c{len(columns)}")
            converters.append(_converter(field.get_col(alias)))
    columns.append(
        f"(SELECT twin.id FROM {messages_table} twin WHERE twin.direction = '{Message.Direction.INBOUND.value}'"  # noqa: S608
        " AND twin.sender_domain = m.sender_domain AND twin.message_id = m.message_id"
        f" AND twin.id < m.id ORDER BY twin.id LIMIT 1) AS c{len(columns)}"
    )
    converters.append(None)
    statement = (
        "WITH sender_lock AS MATERIALIZED (SELECT pg_try_advisory_xact_lock(%s, %s) AS held)"  # noqa: S608 (names from the models)
        " SELECT sender_lock.held, batch.* FROM sender_lock LEFT JOIN LATERAL ("
        f"SELECT {', '.join(columns)} FROM {messages_table} m"
        f" LEFT JOIN {participants_table} p ON p.id = m.participant_id"
        f" WHERE sender_lock.held AND {_pending_statuses_sql()}"
        " AND m.sender_domain = %s AND m.sender_role = %s"
        " ORDER BY m.id LIMIT %s FOR UPDATE OF m) batch ON true"
    )
    return statement, converters


def _converter(column):
    """Django's converters of a selected column, as one function (None when there are none)."""
    functions = [*connection.ops.get_db_converters(column), *column.get_db_converters(connection)]
    if not functions:
        return None

    def convert(value):
        for function in functions:
            value = function(value, column, connection)
        return value

    return convert


def message_process_next(
    *,
    batch: int = 1,
    skip_senders: frozenset[tuple[str, str]] = frozenset(),
    held_elsewhere: set[tuple[str, str]] | None = None,
    first: tuple[str, str] | None = None,
) -> Processed | None:
    """Process the oldest pending inbound messages (up to `batch`, in pk order) of one sender
    no other drain holds, in ONE transaction (one commit for the batch); their responses are
    stored, claimed for the caller but not delivered (the caller delivers them after the commit,
    `outbound.outbound_messages_deliver_claimed`). None when nothing is
    left that this drain may take.

    `first`: a sender to look at before asking who is pending (the sender of the message that
    woke a lingering drain): a message arriving alone is answered without that statement.

    A drain killed halfway leaves its batch uncommitted, so still received: the next drain (or
    the sweep) takes it again from the start. Raises OriginalStillPending like message_process,
    and SenderMessageFailed (the whole batch rolled back) when processing raises.
    """
    with transaction.atomic():
        tried = set(skip_senders)
        for sender in _senders_to_try(first):
            if sender in tried:
                continue
            tried.add(sender)
            batch_messages = _pending_batch(sender=sender, batch=batch)
            if batch_messages is None:
                # Another drain answers this sender, in order (or one just killed, whose
                # session still holds the lock): the caller looks again later.
                if held_elsewhere is not None:
                    held_elsewhere.add(sender)
                continue
            if not batch_messages:
                continue
            # The batch's writes wait for its end (one UPDATE and one INSERT for all), except
            # before a message with an earlier twin: that twin's answer must be readable then.
            responses: list[Message] = []
            unwritten: list[Message] = []
            unwritten_responses: list[Message] = []
            for message in batch_messages:
                try:
                    if getattr(message, "earlier_twin", None) is not None:
                        _batch_write(processed=unwritten, responses=unwritten_responses)
                    response = _processed(message=message, claimed=True)
                except OriginalStillPending:
                    raise
                except Exception as exc:
                    raise SenderMessageFailed(message_pk=message.pk, sender=sender) from exc
                if response is not None:
                    unwritten.append(message)
                    unwritten_responses.append(response)
                    responses.append(response)
            try:
                _batch_write(processed=unwritten, responses=unwritten_responses)
            except Exception as exc:
                # Not one message's fault that can be told: the drain retries one at a time.
                raise SenderMessageFailed(message_pk=batch_messages[-1].pk, sender=sender) from exc
            return Processed(messages=list[Message](batch_messages), responses=responses)
    return None


# The fields processing sets on an inbound message.
_PROCESSED_FIELDS = ["status", "result", "rejection_reason", "processed_at", "last_error", "updated_at"]


def _process_locked(*, message: Message) -> Message | None:
    """The checks and the registry for `message`, locked in the caller's transaction; its
    response is stored and its delivery enqueued after the commit."""
    response = _processed(message=message, claimed=False)
    if response is None:
        return None
    message.save(update_fields=_PROCESSED_FIELDS)
    return outbound.outbound_message_store(message=response, enqueue_delivery=True)


def _processed(*, message: Message, claimed: bool) -> Message | None:
    """Run the checks and the registry for `message`; set its processed fields (not saved) and
    return its response (built, not stored). None for a TestMessageResponse, recorded (and
    saved) here: nothing answers it."""
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
    message.processed_at = message.updated_at = timezone.now()
    message.last_error = ""
    return outbound.outbound_message_build(
        payload=response_payload, recipient=_sender_of(message), request=message, claimed=claimed
    )


def _batch_write(*, processed: list[Message], responses: list[Message]) -> None:
    """The processed fields of a batch's messages and their responses: on PostgreSQL one
    statement for both (an UPDATE from the rows of a JSON array and the INSERT, statements
    built once per process: Django's bulk_update built a CASE per field and row, 10 ms of CPU
    for 20 messages), elsewhere a save per message and one INSERT."""
    if not processed:
        return
    if connection.vendor == "postgresql":
        rows_update_and_insert(updated=processed, fields=_PROCESSED_FIELDS, inserted=responses)
    else:
        for message in processed:
            message.save(update_fields=_PROCESSED_FIELDS)
        outbound.outbound_messages_store_claimed(messages=responses)
    processed.clear()
    responses.clear()


def _metadata_for_response(*, payload: messages.PayloadMessage, recipient_domain: str) -> dict:
    return {
        "version": payload.version,
        "sender_domain": settings.CRO_DOMAIN,
        "recipient_domain": recipient_domain,
        "time_stamp": timezone.now(),
        "message_id": str(uuid.uuid4()),
        "conversation_id": payload.conversation_id,
    }


def _sender_of(message: Message) -> Participant:
    """The participant an inbound message came from (recorded on receipt, before the 200)."""
    if message.participant is None:
        raise ValueError(f"inbound message {message.pk} has no participant")
    return message.participant


def _response_for(
    *, message: Message, payload: messages.PayloadMessage, result: messages.Result, reason: str | None
) -> messages.PayloadMessage:
    """The response to `payload` with no content beyond Result (queries get empty answers).

    It goes to the signer of the envelope, which may differ from the inner SenderDomain
    when the message is rejected as Invalid Sender.
    """
    metadata = _metadata_for_response(payload=payload, recipient_domain=message.sender_domain)
    # Any: each request type has its own response type, with its own fields.
    response_type: Any = messages.RESPONSE_FOR[type(payload)]
    if response_type is messages.TestMessageResponse:
        return messages.TestMessageResponse(
            **metadata, reference_message_id=payload.message_id, result=result, rejection_reason=reason
        )
    extra = {}
    if isinstance(payload, (messages.DSOPortfolioQuery, messages.AGRPortfolioQuery)):
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
    if _sender_of(message).is_barred:
        return _rejected("Barred Sender")
    # 4. Version
    if payload.version not in versions.SUPPORTED_VERSIONS:
        return _rejected(f"Version {payload.version} is not supported")
    if versions.SUPPORTED_VERSIONS[payload.version].major != message.path_major:
        return _rejected(f"Version {payload.version} does not match the endpoint v{message.path_major}")
    # 5 and 6. Already Submitted / Duplicate Identifier (the drain read whether there is a twin)
    twin = None
    if getattr(message, "earlier_twin", True) is not None:
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
        mismatch = time_zone_mismatch(time_zone=time_zone, payload=payload)
        if mismatch:
            return _rejected(f"TimeZone rejected: {mismatch}")
    # 8 to 10: the registry.
    return _registry_verdict(message=message, payload=payload)


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
    participant = _sender_of(message)
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
