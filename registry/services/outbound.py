"""Outbound messages: build, sign and deliver what the CRO sends (cro-rules §6)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import logging
import time
import uuid
from dataclasses import dataclass
from urllib.parse import SplitResult, urljoin, urlsplit
from urllib.request import getproxies, proxy_bypass

import certifi
import urllib3
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from cro.signing import cro_signing_key
from registry import dispatch
from registry.db import server_binding_cursor
from registry.models import Message, Participant
from registry.services.delivery_attempts import delivery_attempt_build
from registry.services.peer_http import PeerAnswer, PeerConnectionError, PeerOrigin, PeerTimeout
from registry.services.rows import rows_insert
from registry.uftp import codec, messages, versions

logger = logging.getLogger(__name__)

# 4xx answers that may heal by themselves: retried like 5xx (cro-rules §6).
RETRYABLE_CLIENT_ERRORS = frozenset({404, 419, 429})


def outbound_message_create(
    *,
    payload: messages.PayloadMessage,
    recipient: Participant,
    request: Message | None = None,
    enqueue_delivery: bool = True,
) -> Message:
    """Sign `payload`, store it as queued and enqueue its delivery after the commit; or, with
    `enqueue_delivery=False`, claimed for the caller, which delivers it itself right after the
    commit (`outbound_messages_deliver_claimed`): its first attempt is counted and leased at
    once, so no other worker (the sweep's delivery task) POSTs it meanwhile."""
    message = outbound_message_build(
        payload=payload, recipient=recipient, request=request, claimed=not enqueue_delivery
    )
    return outbound_message_store(message=message, enqueue_delivery=enqueue_delivery)


def outbound_message_store(*, message: Message, enqueue_delivery: bool) -> Message:
    """Store a built message and, unless it was built claimed, enqueue its delivery after the commit."""
    message.save(force_insert=True)
    if enqueue_delivery:
        transaction.on_commit(lambda: dispatch.message_delivery_enqueue(message_pk=message.pk))
    return message


def outbound_messages_store_claimed(*, messages: list[Message]) -> None:
    """Store responses built `claimed` (outbound_message_build) in one INSERT: a drain's batch."""
    rows_insert(objects=messages)


def outbound_message_build(
    *,
    payload: messages.PayloadMessage,
    recipient: Participant,
    request: Message | None = None,
    claimed: bool = False,
) -> Message:
    """The signed outbound message for `payload`, not yet stored (see outbound_message_create)."""
    # An answer is spelled in the major of the endpoint its request came to, where the
    # requester reads it: an unsupported or mismatched Version gets that major's newest.
    path_major = (request.path_major or 3) if request is not None else None
    profile = versions.response_profile(payload.version, path_major=path_major)
    if versions.major_of(payload.version) != profile.major:
        # A Version of another major than the endpoint's: the answer says the version it is
        # spelled in, so it reads back (and is copied for Already Submitted) consistently.
        payload = dataclasses.replace(payload, version=profile.version)
    inner_xml = codec.serialize(payload, profile=profile)
    signed_xml = codec.build_signed_message(
        sender_domain=settings.CRO_DOMAIN,
        sender_role=messages.Role.CRO,
        inner_xml=inner_xml,
        private_key=cro_signing_key(),
    )
    now = timezone.now()
    result = getattr(payload, "result", None)
    return Message(
        direction=Message.Direction.OUTBOUND,
        status=Message.Status.RESPONSE_QUEUED,
        message_type=payload.message_type,
        version=payload.version,
        sender_domain=settings.CRO_DOMAIN,
        sender_role=messages.Role.CRO,
        recipient_domain=recipient.domain,
        recipient_role=recipient.role,
        participant=recipient,
        message_id=payload.message_id,
        conversation_id=payload.conversation_id,
        reference_message_id=getattr(payload, "reference_message_id", None) or "",
        time_stamp=payload.time_stamp,
        request=request,
        signed_xml=signed_xml.decode("utf-8"),
        inner_xml=inner_xml.decode("utf-8"),
        body_digest=hashlib.sha256(inner_xml).hexdigest(),
        result=result.value if result else "",
        rejection_reason=getattr(payload, "rejection_reason", None) or "",
        next_attempt_at=now + _lease() if claimed else now,
        attempts=1 if claimed else 0,
        give_up_at=now + dt.timedelta(seconds=settings.CRO_DELIVERY_RETRY_SECONDS),
    )


@dataclass(frozen=True)
class DeliveryOutcome:
    delivered: bool = False
    failed: bool = False
    # Seconds until the next attempt, when one is due.
    retry_in: float | None = None
    # How long the POST took.
    seconds: float | None = None


def _backoff_seconds(attempt: int) -> float:
    base = settings.CRO_DELIVERY_BACKOFF_BASE_SECONDS
    return float(min(base * 2 ** max(attempt - 1, 0), settings.CRO_DELIVERY_BACKOFF_MAX_SECONDS))


def _lease() -> dt.timedelta:
    """How long a claimed delivery belongs to its worker: one POST's timeout and a margin."""
    return dt.timedelta(seconds=settings.CRO_DELIVERY_TIMEOUT_SECONDS + 30)


def outbound_message_deliver(*, message_pk: int) -> DeliveryOutcome | None:
    """Make one delivery attempt. None when another worker holds the message or it is done.

    The attempt is claimed with a conditional UPDATE (a lease on next_attempt_at), so two
    workers never POST the same message at once, on PostgreSQL and SQLite alike.
    """
    if not _claim(message_pk=message_pk):
        return None
    message = Message.objects.select_related("participant").get(pk=message_pk)
    return outbound_messages_post(messages=[message])[0]


def _claim(*, message_pk: int) -> bool:
    now = timezone.now()
    return bool(
        Message.objects.filter(
            pk=message_pk, direction=Message.Direction.OUTBOUND, status=Message.Status.RESPONSE_QUEUED
        )
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .update(next_attempt_at=now + _lease(), attempts=F("attempts") + 1, updated_at=now)
    )


def outbound_messages_deliver_claimed(*, messages: list[Message]) -> list[DeliveryOutcome | None]:
    """Deliver, in order, responses stored claimed (`outbound_message_create(enqueue_delivery=False)`)
    and committed by the caller: no claim and no read are needed while the lease taken at their
    creation still covers a whole attempt; one that outlived it is claimed again first (None when
    another worker has it meanwhile)."""
    deadline = timezone.now() + dt.timedelta(seconds=settings.CRO_DELIVERY_TIMEOUT_SECONDS + 5)
    ours: list[Message] = []
    for message in messages:
        leased_until = message.next_attempt_at
        if leased_until is not None and leased_until > deadline:
            ours.append(message)
            continue
        # Lease too short for one more attempt (a long batch): claim it as the delivery task does.
        message.next_attempt_at = None
        if _claim(message_pk=message.pk):
            ours.append(Message.objects.select_related("participant").get(pk=message.pk))
    outcomes = dict(zip((m.pk for m in ours), outbound_messages_post(messages=ours), strict=True))
    return [outcomes.get(message.pk) for message in messages]


def outbound_messages_post(*, messages: list[Message]) -> list[DeliveryOutcome]:
    """POST each claimed message in order, then record every outcome at once: one transaction
    whose commit need not wait for its WAL flush (were it lost in a database crash, the
    responses are sent again, as after a worker killed mid-POST)."""
    attempts = []
    for message in messages:
        started_at, clock = timezone.now(), time.perf_counter()
        retryable, error = _post(message)
        attempts.append((message, started_at, time.perf_counter() - clock, retryable, error))
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        return _attempts_record(attempts)


def _attempts_record(attempts: list) -> list[DeliveryOutcome]:
    now = timezone.now()
    outcomes: list[DeliveryOutcome] = []
    rows = []
    delivered_pks = []
    for message, started_at, seconds, retryable, error in attempts:
        # The attempt log (services.delivery_attempts): one row per attempt, with its outcome.
        attempt = functools.partial(
            delivery_attempt_build,
            message=message,
            started_at=started_at,
            duration_seconds=seconds,
            error=error,
        )
        if error is None:
            delivered_pks.append(message.pk)
            rows.append(attempt(outcome="delivered", next_attempt_at=None))
            outcomes.append(DeliveryOutcome(delivered=True, seconds=seconds))
            continue
        give_up_at = message.give_up_at or now
        if not retryable or now >= give_up_at:
            if retryable:
                error = f"{error} (gave up after {message.attempts} attempts)"
            Message.objects.filter(pk=message.pk).update(
                status=Message.Status.FAILED, last_error=error, next_attempt_at=None, updated_at=now
            )
            logger.warning("delivery of message %s failed: %s", message.pk, error)
            rows.append(attempt(outcome="failed", next_attempt_at=None))
            outcomes.append(DeliveryOutcome(failed=True, seconds=seconds))
            continue
        delay = min(_backoff_seconds(message.attempts), max((give_up_at - now).total_seconds(), 0.0))
        next_attempt_at = now + dt.timedelta(seconds=delay)
        Message.objects.filter(pk=message.pk).update(
            last_error=error, next_attempt_at=next_attempt_at, updated_at=now
        )
        rows.append(attempt(outcome="retry", next_attempt_at=next_attempt_at))
        outcomes.append(DeliveryOutcome(retry_in=delay, seconds=seconds))
    if delivered_pks:
        _delivered_record(message_pks=delivered_pks, at=now)
    rows_insert(objects=rows)
    return outcomes


def _delivered_record(*, message_pks: list[int], at: dt.datetime) -> None:
    """Mark delivered: a statement of its own on PostgreSQL (a queryset's update compiled it for
    about 0.5 ms of CPU after each POST), bound on the server so that it is prepared."""
    if connection.vendor != "postgresql":
        Message.objects.filter(pk__in=message_pks).update(
            status=Message.Status.DELIVERED,
            delivered_at=at,
            last_error="",
            next_attempt_at=None,
            updated_at=at,
        )
        return
    with server_binding_cursor() as cursor:
        cursor.execute(
            f"UPDATE {Message._meta.db_table} SET status = %s, delivered_at = %s, last_error = '',"  # noqa: S608 (no user input)
            " next_attempt_at = NULL, updated_at = %s WHERE id = ANY(%s)",
            [Message.Status.DELIVERED.value, at, at, message_pks],
        )


# One kept-alive connection per peer origin and process (a worker's pool process): the TCP
# connection (and TLS handshake) is reused from one delivery to the next. Straight to the peer
# through services/peer_http.py, the deliveries' own HTTP/1.1 client (about 40 us of CPU per POST,
# urllib3 about 240); through urllib3's ProxyManager where the standard *_proxy / no_proxy
# environment variables name an egress proxy. Either checks TLS certificates against certifi's
# CA bundle, as requests did here first.
_pools: dict[str, PeerOrigin | urllib3.ProxyManager] = {}


def _pool_for(parts: SplitResult) -> PeerOrigin | urllib3.ProxyManager:
    origin = f"{parts.scheme}://{parts.netloc}"
    pool = _pools.get(origin)
    if pool is None:
        proxy = getproxies().get(parts.scheme)
        if proxy and not proxy_bypass(parts.hostname or ""):
            pool = urllib3.ProxyManager(proxy, ca_certs=certifi.where(), maxsize=1, retries=False)
        else:
            pool = PeerOrigin(scheme=parts.scheme, host=parts.hostname or "", port=parts.port)
        _pools[origin] = pool
    return pool


def _pool_post(url: str, *, body: bytes, seconds: float) -> PeerAnswer | urllib3.BaseHTTPResponse:
    """POST `body` to `url` once (no retry, no redirect followed) through its origin's connection."""
    parts = urlsplit(url)
    pool = _pool_for(parts)
    if isinstance(pool, PeerOrigin):
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return pool.post(target, body=body, content_type=_CONTENT_TYPE, seconds=seconds)
    return pool.urlopen(
        "POST",
        url,  # a proxy is asked for the whole URL
        body=body,
        headers={"Content-Type": _CONTENT_TYPE},
        timeout=urllib3.Timeout(connect=seconds, read=seconds),
        redirect=False,
        retries=False,
        assert_same_host=False,
    )


_CONTENT_TYPE = "text/xml; charset=utf-8"


# Redirects followed on delivery (same method and body); others fail the attempt (cro-rules §6).
FOLLOWED_REDIRECTS = frozenset({307, 308})
MAX_REDIRECT_HOPS = 2


def _endpoint(message: Message) -> str:
    """The recipient's endpoint of the message's major (a response goes where its request's major is served)."""
    major = versions.major_of(message.version) or 3
    if message.participant is None:
        raise ValueError(f"outbound message {message.pk} has no recipient participant")
    return message.participant.endpoint_for_major(major)


def _post(message: Message) -> tuple[bool, str | None]:
    """POST the signed message; (retryable, error) with error None on success."""
    endpoint = _endpoint(message)
    seconds = settings.CRO_DELIVERY_TIMEOUT_SECONDS
    body = message.signed_xml.encode("utf-8")
    try:
        response, endpoint = _post_following_redirects(
            lambda url: _pool_post(url, body=body, seconds=seconds), endpoint
        )
    except RedirectRefused as exc:
        return False, str(exc)
    except (urllib3.exceptions.HTTPError, PeerTimeout, PeerConnectionError) as exc:
        return True, _transport_error(exc, endpoint=endpoint)
    if response.status == 200:
        return False, None
    text = response.data[:2000].decode("utf-8", errors="replace")[:500]
    error = f"HTTP {response.status} from {endpoint}: {text}"
    if 400 <= response.status < 500 and response.status not in RETRYABLE_CLIENT_ERRORS:
        return False, error
    return True, error


def _transport_error(exc: Exception, *, endpoint: str) -> str:
    """The attempt's error text: "timeout after ..." or "<kind> posting to <endpoint>: ..."."""
    # NewConnectionError (refused, unresolvable) is a ConnectTimeoutError to urllib3: not a timeout.
    if isinstance(
        exc, urllib3.exceptions.NewConnectionError | urllib3.exceptions.ProtocolError | PeerConnectionError
    ):
        kind = "ConnectionError"
    elif isinstance(exc, urllib3.exceptions.TimeoutError | PeerTimeout):
        return f"timeout after {settings.CRO_DELIVERY_TIMEOUT_SECONDS}s posting to {endpoint}"
    else:
        kind = exc.__class__.__name__
    return f"{kind} posting to {endpoint}: {exc}"


class RedirectRefused(Exception):
    """A redirect the CRO does not follow: the delivery attempt fails for good."""


def _post_following_redirects(post, endpoint: str) -> tuple[PeerAnswer | urllib3.BaseHTTPResponse, str]:
    """`post(url)` at `endpoint`, following 307/308 up to MAX_REDIRECT_HOPS; (response, its URL).

    307 and 308 keep method and body, so the signed message is posted again as it is. Any
    other 3xx (301/302/303 would turn the POST into a GET) refuses the delivery, as does a
    redirect without a Location, to a non-http(s) URL, or beyond the hop limit.
    """
    url, hops = endpoint, 0
    while True:
        response = post(url)
        if not 300 <= response.status < 400:
            return response, url
        location = response.headers.get("location", "")  # urllib3's headers ignore case too
        if response.status not in FOLLOWED_REDIRECTS:
            raise RedirectRefused(
                f"HTTP {response.status} redirect from {url} to {location or '(no Location)'} "
                "not followed: only 307 and 308 keep the POST and its body"
            )
        if hops == MAX_REDIRECT_HOPS:
            raise RedirectRefused(
                f"more than {MAX_REDIRECT_HOPS} redirects posting to {endpoint} (last at {url})"
            )
        if not location:
            raise RedirectRefused(f"HTTP {response.status} from {url} without a Location header")
        target = urljoin(url, location)
        target_parts = urlsplit(target)
        if target_parts.scheme not in ("http", "https"):
            raise RedirectRefused(
                f"HTTP {response.status} from {url} to a non-http(s) URL {location[:200]!r}"
            )
        if not target_parts.hostname:
            raise RedirectRefused(
                f"HTTP {response.status} from {url} to a URL without a host {location[:200]!r}"
            )
        url, hops = target, hops + 1


def outbound_message_retry(*, message: Message) -> Message:
    """An administrator's "retry now": a failed delivery is queued again, with a new retry window."""
    if message.direction != Message.Direction.OUTBOUND or message.status != Message.Status.FAILED:
        raise ValidationError("only a failed outbound message can be retried")
    now = timezone.now()
    Message.objects.filter(pk=message.pk, status=Message.Status.FAILED).update(
        status=Message.Status.RESPONSE_QUEUED,
        next_attempt_at=now,
        give_up_at=now + dt.timedelta(seconds=settings.CRO_DELIVERY_RETRY_SECONDS),
        updated_at=now,
    )
    transaction.on_commit(lambda: dispatch.message_delivery_enqueue(message_pk=message.pk))
    message.refresh_from_db()
    return message


def participant_test_message_send(*, participant: Participant, version: str | None = None) -> Message:
    """Send the CRO's own TestMessage, by default in the newest version the participant speaks;
    the TestMessageResponse is recorded against it."""
    version = version or participant.newest_version or versions.DEFAULT_PARTICIPANT_VERSION
    payload = messages.TestMessage(
        version=version,
        sender_domain=settings.CRO_DOMAIN,
        recipient_domain=participant.domain,
        time_stamp=timezone.now(),
        message_id=str(uuid.uuid4()),
        conversation_id=str(uuid.uuid4()),
    )
    with transaction.atomic():
        return outbound_message_create(payload=payload, recipient=participant)
