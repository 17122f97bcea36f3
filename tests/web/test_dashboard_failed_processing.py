"""A message given up on after its processing attempts is shown on the dashboard (issue 15, item 4)."""

from django.urls import reverse
from django.utils import timezone

from registry.models import Message


def _inbound(participant, *, status: str, message_id: str) -> Message:
    return Message.objects.create(
        direction=Message.Direction.INBOUND,
        status=status,
        message_type="DSOPortfolioQuery",
        version="3.1.0",
        path_major=3,
        sender_domain=participant.domain,
        sender_role=participant.role,
        recipient_domain="cro.example.com",
        recipient_role="CRO",
        participant=participant,
        message_id=message_id,
        conversation_id=message_id,
        time_stamp=timezone.now(),
        signed_xml="<SignedMessage/>",
        inner_xml="<DSOPortfolioQuery/>",
        body_digest="0" * 64,
        last_error="ValueError: cannot serialise the answer",
    )


def test_a_message_given_up_on_is_listed_on_the_dashboard(make_participant, staff_client):
    participant, _ = make_participant("dso1.example.com", "DSO")
    failed = _inbound(
        participant, status=Message.Status.FAILED, message_id="a1b2c3d4-0000-4000-8000-000000000001"
    )
    processed = _inbound(
        participant, status=Message.Status.PROCESSED, message_id="a1b2c3d4-0000-4000-8000-000000000002"
    )
    page = staff_client.get(reverse("web:dashboard")).content.decode()
    assert "Messages that could not be processed" in page
    assert f'data-failed-processing="{failed.pk}"' in page
    assert f'data-failed-processing="{processed.pk}"' not in page
    assert "cannot serialise the answer" in page


def test_no_section_without_such_messages(staff_client, db):
    page = staff_client.get(reverse("web:dashboard")).content.decode()
    assert "Messages that could not be processed" not in page
