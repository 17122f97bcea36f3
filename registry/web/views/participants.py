"""Participants: list, detail, add, edit, bar, reactivate, key rotation, TestMessage."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from registry import roles
from registry.models import Participant
from registry.selectors import audit as audit_selectors
from registry.selectors import participants as participant_selectors
from registry.selectors import refusals as refusal_selectors
from registry.services import outbound, participants
from registry.services.audit import audited
from registry.services.sequence import entity_time_stamp_reset
from registry.uftp import keys
from registry.web.access import permission_required, staff_required
from registry.web.filters import ParticipantFilterSet
from registry.web.forms import KeyRotateForm, ParticipantForm, TimeStampResetForm, service_errors_to_form
from registry.web.presentation import test_messages_waiting
from registry.web.tables import PER_PAGE_CHOICES, ParticipantTable, table_configure


@staff_required
def participant_list(request: HttpRequest) -> HttpResponse:
    filterset = ParticipantFilterSet(request.GET or None, queryset=participant_selectors.participant_list())
    table = table_configure(request, ParticipantTable(filterset.qs), per_page=50)
    return render(
        request,
        "web/participant_list.html",
        {
            "nav": "participants",
            "filterset": filterset,
            "table": table,
            "records": [row.record for row in table.page.object_list],
            "per_page_choices": PER_PAGE_CHOICES,
        },
    )


@staff_required
def participant_detail(request: HttpRequest, pk: int) -> HttpResponse:
    participant = get_object_or_404(Participant, pk=pk)
    return render(
        request,
        "web/participant_detail.html",
        {
            "nav": "participants",
            "participant": participant,
            "summary": participant_selectors.participant_summary(participant=participant),
            "test_messages": test_messages_waiting(
                participant_selectors.participant_test_messages(participant=participant), now=timezone.now()
            ),
            "recent_messages": participant_selectors.participant_recent_messages(participant=participant),
            "rotate_form": KeyRotateForm(),
            "time_stamp_reset_form": TimeStampResetForm(),
            "refusals": refusal_selectors.participant_refusal_summary(participant=participant),
            "audit_entries": audit_selectors.audit_entries_for(target=participant)[:20],
        },
    )


@staff_required
def participant_test_messages(request: HttpRequest, pk: int) -> HttpResponse:
    """The TestMessages table alone: the detail page polls it until every answer is in."""
    participant = get_object_or_404(Participant, pk=pk)
    return render(
        request,
        "web/_test_messages.html",
        {
            "participant": participant,
            "test_messages": test_messages_waiting(
                participant_selectors.participant_test_messages(participant=participant), now=timezone.now()
            ),
        },
    )


def _participant_save(request: HttpRequest, participant: Participant | None) -> HttpResponse:
    initial = {}
    if participant is not None:
        initial = {
            "domain": participant.domain,
            "role": participant.role,
            # Shown as published (cs1.), the form takes either form.
            "public_key": keys.to_cs1(participant.public_key),
            "public_key_previous": keys.to_cs1(participant.public_key_previous)
            if participant.public_key_previous
            else "",
            "endpoint_url": participant.endpoint_url,
            "newest_version": participant.newest_version,
            **{
                ParticipantForm.endpoint_field_name(int(major)): url
                for major, url in (participant.endpoints or {}).items()
            },
        }
    form = ParticipantForm(request.POST or None, initial=initial, participant=participant)
    if request.method == "POST" and form.is_valid():
        values = {
            "domain": form.cleaned_data["domain"],
            "role": form.cleaned_data["role"],
            "public_keys": form.public_keys(),
            "endpoint_url": form.cleaned_data["endpoint_url"].strip(),
            "endpoints": form.endpoints(),
            # Left empty: what is recorded stays (a new participant: 3.1.0).
            "newest_version": form.cleaned_data.get("newest_version") or None,
        }
        try:
            action = "participant_create" if participant is None else "participant_update"
            with audited(request=request, action=action, target=participant) as audit:
                if participant is None:
                    saved = participants.participant_create(**values)
                else:
                    saved = participants.participant_upsert(**values).participant
                audit.target = saved
        except ValidationError as exc:
            service_errors_to_form(form, exc, field_map=ParticipantForm.FIELD_MAP)
        else:
            messages.success(request, f"{saved} {'registered' if participant is None else 'saved'}.")
            return redirect("web:participant-detail", pk=saved.pk)
    return render(
        request,
        "web/participant_form.html",
        {"nav": "participants", "form": form, "participant": participant},
        status=400 if form.errors else 200,
    )


@permission_required(roles.MANAGE_PARTICIPANTS)
def participant_add(request: HttpRequest) -> HttpResponse:
    return _participant_save(request, None)


@permission_required(roles.MANAGE_PARTICIPANTS)
def participant_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _participant_save(request, get_object_or_404(Participant, pk=pk))


@permission_required(roles.MANAGE_PARTICIPANTS)
@require_POST
def participant_bar(request: HttpRequest, pk: int) -> HttpResponse:
    participant = get_object_or_404(Participant, pk=pk)
    reason = request.POST.get("reason", "").strip()
    if not reason:
        messages.error(request, f"{participant} is not barred: give the reason for barring it.")
        return redirect("web:participant-detail", pk=participant.pk)
    with audited(request=request, action="participant_bar", target=participant, reason=reason):
        participant = participants.participant_bar(participant=participant)
    messages.warning(request, f'{participant} is barred: its messages are answered "Barred Sender".')
    return redirect("web:participant-detail", pk=participant.pk)


@permission_required(roles.MANAGE_PARTICIPANTS)
@require_POST
def participant_reactivate(request: HttpRequest, pk: int) -> HttpResponse:
    participant = get_object_or_404(Participant, pk=pk)
    with audited(request=request, action="participant_reactivate", target=participant):
        participant = participants.participant_reactivate(participant=participant)
    messages.success(request, f"{participant} is active again.")
    return redirect("web:participant-detail", pk=participant.pk)


@permission_required(roles.MANAGE_PARTICIPANTS)
def participant_key_rotate(request: HttpRequest, pk: int) -> HttpResponse:
    participant = get_object_or_404(Participant, pk=pk)
    form = KeyRotateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            with audited(request=request, action="participant_key_rotate", target=participant):
                participants.participant_key_rotate(
                    participant=participant, new_public_key=form.cleaned_data["new_public_key"].strip()
                )
        except ValidationError as exc:
            service_errors_to_form(form, exc, field_map=KeyRotateForm.FIELD_MAP)
        else:
            messages.success(
                request,
                f"New key of {participant} in use: the previous key stays valid until the rotation is completed.",
            )
            return redirect("web:participant-detail", pk=participant.pk)
    return render(
        request,
        "web/participant_key_rotate.html",
        {"nav": "participants", "participant": participant, "form": form},
        status=400 if form.errors else 200,
    )


@permission_required(roles.MANAGE_PARTICIPANTS)
@require_POST
def participant_key_rotation_complete(request: HttpRequest, pk: int) -> HttpResponse:
    participant = get_object_or_404(Participant, pk=pk)
    try:
        with audited(request=request, action="participant_key_rotation_complete", target=participant):
            participants.participant_key_rotation_complete(participant=participant)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Key rotation of {participant} completed: only the new key is valid now.")
    return redirect("web:participant-detail", pk=participant.pk)


@permission_required(roles.SEND_TEST_MESSAGE)
@require_POST
def participant_test_message_send(request: HttpRequest, pk: int) -> HttpResponse:
    participant = get_object_or_404(Participant, pk=pk)
    with audited(request=request, action="participant_test_message_send") as audit:
        message = outbound.participant_test_message_send(participant=participant)
        audit.target = message
    messages.info(
        request,
        f"TestMessage {message.message_id} queued for {participant}; its answer appears below when it comes back.",
    )
    return redirect(f"{reverse('web:participant-detail', kwargs={'pk': participant.pk})}#test-messages")


@permission_required(roles.MANAGE_PARTICIPANTS)
@require_POST
def participant_time_stamp_reset(request: HttpRequest, pk: int) -> HttpResponse:
    """Reset the last TimeStamp of one of the participant's entities to now (cro-rules §3 item 9),
    the web twin of `manage.py cro_time_stamp_reset`."""
    participant = get_object_or_404(Participant, pk=pk)
    form = TimeStampResetForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give the entity address whose last TimeStamp to reset.")
        return redirect("web:participant-detail", pk=participant.pk)
    address = form.cleaned_data["entity_address"].strip()
    try:
        with audited(request=request, action="entity_time_stamp_reset", target=participant) as audit:
            reset = entity_time_stamp_reset(
                participant=participant, entity_address=address, reset_by=f"{request.user} (web)"
            )
            previous = reset.previous.isoformat() if reset.previous else "none"
            audit.reason = f"{address}: last TimeStamp {previous} -> {reset.current.isoformat()}"
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            f"Last TimeStamp of {address} reset to now: {participant}'s next update to it is accepted.",
        )
    return redirect("web:participant-detail", pk=participant.pk)
