"""The UFTP endpoints: POST /shapeshifter/api/v<major>/message, one per major (cro-rules §2)."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse, UnreadablePostError
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from registry import metrics
from registry.services import refusals
from registry.services.inbound import MessageRefused, bounded_reason, message_receive
from registry.uftp import errors, versions


def _refuse(request: HttpRequest, status: int, reason: str, *, body: bytes | None = None) -> HttpResponse:
    """Every refusal goes through here: it is counted (bounded, services.refusals) and answered.
    `body` is given once it has been read, to record the sender it claims."""
    sender_domain, sender_role = refusals.refusal_claimed_sender(data=body)
    refusals.refusal_record(
        status=status,
        reason=reason,
        client_address=request.META.get("REMOTE_ADDR", ""),
        sender_domain=sender_domain,
        sender_role=sender_role,
    )
    return HttpResponse(bounded_reason(reason), status=status, content_type="text/plain; charset=utf-8")


@csrf_exempt
@require_POST
@metrics.endpoint_observed
def uftp_message(request: HttpRequest) -> HttpResponse:
    """Every /shapeshifter/api/<anything>/message comes here; only the version table's exact
    paths are served. Any other is a final 400, not a 404 (peers retry a 404 as temporary);
    it is answered right after the size checks, since nothing else about such a request can
    be acted upon."""
    content_length = request.META.get("CONTENT_LENGTH", "")
    if not content_length.strip():
        return _refuse(request, 411, "Content-Length is required")
    try:
        length = int(content_length)
    except ValueError:
        return _refuse(request, 400, "Content-Length is not a number")
    if length < 0:
        return _refuse(request, 400, "Content-Length is negative")
    if length > settings.CRO_MAX_MESSAGE_BYTES:
        return _refuse(request, 413, f"message larger than {settings.CRO_MAX_MESSAGE_BYTES} bytes")
    try:
        major = versions.major_for_endpoint_path(request.path_info)
    except errors.UnsupportedVersion as unsupported:
        return _refuse(request, 400, f"unsupported Shapeshifter version in the path: {unsupported}")
    try:
        body = request.body
    except UnreadablePostError:
        return _refuse(request, 400, "the body could not be read to its end")
    if len(body) != length:
        # The client gave up (or lied): an incomplete message is never stored.
        return _refuse(
            request, 400, f"the body has {len(body)} bytes, not the {length} of its Content-Length"
        )
    try:
        message = message_receive(
            data=body,
            content_type=request.content_type or "",
            charset=request.content_params.get("charset"),
            path_major=major,
            client_address=request.META.get("REMOTE_ADDR", ""),
        )
    except MessageRefused as refused:
        return _refuse(request, refused.status, refused.reason, body=body)
    metrics.message_received(message=message)
    return HttpResponse(status=200)
