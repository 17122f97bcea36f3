"""The UFTP endpoints: POST /shapeshifter/api/v<major>/message, one per major (cro-rules §2).

`uftp_post_answer` decides the answer to a POST from its plain parts; two adapters serve it: the
Django view below (Django's test client, and any request the lean path hands to Django) and the
lean WSGI handler of `registry.views.endpoint_wsgi` (a UFTP POST under gunicorn).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest, HttpResponse, UnreadablePostError
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from registry import metrics
from registry.services import refusals
from registry.services.inbound import MessageRefused, bounded_reason, message_receive
from registry.uftp import errors, versions

REFUSAL_CONTENT_TYPE = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class EndpointAnswer:
    """HTTP status and, for a refusal, its reason (the plain-text body)."""

    status: int
    reason: str = ""


ACCEPTED = EndpointAnswer(200)


def _observed(answer_post: Callable[..., EndpointAnswer]) -> Callable[..., EndpointAnswer]:
    """Time each answer and count every refusal (metrics.endpoint_answered)."""

    @functools.wraps(answer_post)
    def observed(**parts) -> EndpointAnswer:
        started = time.perf_counter()
        answer = answer_post(**parts)
        metrics.endpoint_answered(
            status=answer.status,
            reason=answer.reason,
            client_address=parts["client_address"],
            seconds=time.perf_counter() - started,
        )
        return answer

    return observed


@_observed
def uftp_post_answer(
    *,
    path_info: str,
    content_length: str,
    read_body: Callable[[int], bytes],
    content_type: str,
    charset: str | None,
    client_address: str,
) -> EndpointAnswer:
    """Check, store and answer one POST (cro-rules §2); every refusal is recorded and counted.

    `read_body(length)` returns the body (raises UnreadablePostError or OSError when it cannot).
    Every /shapeshifter/api/<anything>/message comes here; only the version table's exact
    paths are served. Any other is a final 400, not a 404 (peers retry a 404 as temporary);
    it is answered right after the size checks, since nothing else about such a request can
    be acted upon."""

    def refuse(status: int, reason: str, *, body: bytes | None = None) -> EndpointAnswer:
        # `body` is given once it has been read, to record the sender it claims.
        sender_domain, sender_role = refusals.refusal_claimed_sender(data=body)
        refusals.refusal_record(
            status=status,
            reason=reason,
            client_address=client_address,
            sender_domain=sender_domain,
            sender_role=sender_role,
        )
        return EndpointAnswer(status, bounded_reason(reason))

    if not content_length.strip():
        return refuse(411, "Content-Length is required")
    try:
        length = int(content_length)
    except ValueError:
        return refuse(400, "Content-Length is not a number")
    if length < 0:
        return refuse(400, "Content-Length is negative")
    if length > settings.CRO_MAX_MESSAGE_BYTES:
        return refuse(413, f"message larger than {settings.CRO_MAX_MESSAGE_BYTES} bytes")
    try:
        major = versions.major_for_endpoint_path(path_info)
    except errors.UnsupportedVersion as unsupported:
        return refuse(400, f"unsupported Shapeshifter version in the path: {unsupported}")
    try:
        body = read_body(length)
    except (UnreadablePostError, OSError):
        return refuse(400, "the body could not be read to its end")
    if len(body) != length:
        # The client gave up (or lied): an incomplete message is never stored.
        return refuse(400, f"the body has {len(body)} bytes, not the {length} of its Content-Length")
    try:
        message = message_receive(
            data=body,
            content_type=content_type,
            charset=charset,
            path_major=major,
            client_address=client_address,
        )
    except MessageRefused as refused:
        return refuse(refused.status, refused.reason, body=body)
    metrics.message_received(message=message)
    return ACCEPTED


@csrf_exempt
@require_POST
def uftp_message(request: HttpRequest) -> HttpResponse:
    answer = uftp_post_answer(
        path_info=request.path_info,
        content_length=request.META.get("CONTENT_LENGTH", ""),
        read_body=lambda _length: request.body,
        content_type=request.content_type or "",
        charset=request.content_params.get("charset"),
        client_address=request.META.get("REMOTE_ADDR", ""),
    )
    if answer.status == 200:
        return HttpResponse(status=200)
    return HttpResponse(answer.reason, status=answer.status, content_type=REFUSAL_CONTENT_TYPE)
