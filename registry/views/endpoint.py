"""The UFTP endpoint: POST /shapeshifter/api/v<major>/message (cro-rules §2)."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from registry import metrics
from registry.services.inbound import MessageRefused, message_receive
from registry.uftp import versions


def _refuse(status: int, reason: str) -> HttpResponse:
    return HttpResponse(reason, status=status, content_type="text/plain; charset=utf-8")


@csrf_exempt
@require_POST
@metrics.endpoint_observed
def uftp_message(request: HttpRequest, major: int) -> HttpResponse:
    if major not in versions.SCHEMA_SETS:
        return _refuse(404, f"no UFTP endpoint for major version {major}")
    content_length = request.META.get("CONTENT_LENGTH", "")
    if not content_length.strip():
        return _refuse(411, "Content-Length is required")
    try:
        length = int(content_length)
    except ValueError:
        return _refuse(400, "Content-Length is not a number")
    if length < 0:
        return _refuse(400, "Content-Length is negative")
    if length > settings.CRO_MAX_MESSAGE_BYTES:
        return _refuse(413, f"message larger than {settings.CRO_MAX_MESSAGE_BYTES} bytes")
    try:
        message = message_receive(
            data=request.body,
            content_type=request.content_type or "",
            charset=request.content_params.get("charset"),
            path_major=major,
            client_address=request.META.get("REMOTE_ADDR", ""),
        )
    except MessageRefused as refused:
        return _refuse(refused.status, refused.reason)
    metrics.message_received(message=message)
    return HttpResponse(status=200)
