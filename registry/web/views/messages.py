"""The message log: list with filters, one message (XML, signature, parsed content), a
conversation, failed deliveries and "retry now"."""

from django.contrib import messages as flash
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from registry import roles
from registry.selectors import audit as audit_selectors
from registry.selectors import messages as message_selectors
from registry.services import outbound
from registry.services.audit import audited
from registry.web.access import permission_required, staff_required
from registry.web.filters import MessageFilterSet
from registry.web.presentation import message_outline, paginate, signed_message_pretty, xml_pretty
from registry.web.tables import PER_PAGE_CHOICES, MessageTable, table_configure


@staff_required
def message_list(request: HttpRequest) -> HttpResponse:
    filterset = MessageFilterSet(
        request.GET or None, queryset=message_selectors.message_list(include_xml=False)
    )
    table = table_configure(request, MessageTable(filterset.qs), per_page=50)
    return render(
        request,
        "web/message_list.html",
        {
            "nav": "messages",
            "filterset": filterset,
            "table": table,
            "records": [row.record for row in table.page.object_list],
            "per_page_choices": PER_PAGE_CHOICES,
        },
    )


def _message_or_404(pk: int):
    message = message_selectors.message_get(pk=pk)
    if message is None:
        raise Http404("no such message")
    return message


@staff_required
def message_detail(request: HttpRequest, pk: int) -> HttpResponse:
    message = _message_or_404(pk)
    outline, outline_error = message_outline(message)
    return render(
        request,
        "web/message_detail.html",
        {
            "nav": "messages",
            "message": message,
            "signature": message_selectors.message_signature_status(message=message),
            "inner_xml": xml_pretty(message.inner_xml),
            "signed_xml": signed_message_pretty(message.signed_xml),
            "outline": outline,
            "outline_error": outline_error,
            "responses": message_selectors.message_responses(message=message),
            "audit_entries": audit_selectors.audit_entries_for(target=message)[:20],
        },
    )


@staff_required
def conversation(request: HttpRequest, conversation_id: str) -> HttpResponse:
    items = [
        {
            "message": message,
            "signature": message_selectors.message_signature_status(message=message),
            "inner_xml": xml_pretty(message.inner_xml),
        }
        for message in message_selectors.conversation_messages(conversation_id=conversation_id)
    ]
    if not items:
        raise Http404("no message in this conversation")
    return render(
        request,
        "web/conversation.html",
        {"nav": "messages", "conversation_id": conversation_id, "items": items},
    )


@staff_required
def failed_deliveries(request: HttpRequest) -> HttpResponse:
    page = paginate(request, message_selectors.failed_delivery_list(), per_page=50)
    return render(request, "web/failed_deliveries.html", {"nav": "failed", "page": page})


@permission_required(roles.RETRY_DELIVERY)
@require_POST
def message_retry(request: HttpRequest, pk: int) -> HttpResponse:
    message = _message_or_404(pk)
    try:
        with audited(request=request, action="message_retry", target=message):
            message = outbound.outbound_message_retry(message=message)
    except ValidationError as exc:
        flash.error(request, " ".join(exc.messages))
    else:
        flash.success(
            request,
            f"{message.message_type} {message.message_id} to {message.recipient_domain} is queued again.",
        )
    next_url = request.POST.get("next", "")
    if next_url and url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        return redirect(next_url)
    return redirect("web:message-detail", pk=message.pk)
