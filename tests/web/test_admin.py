"""Django's admin shows participants but never writes them (services/participants.py does)."""

from django.urls import reverse


def test_participants_are_read_only_in_the_admin(admin_client, make_participant):
    participant, _ = make_participant("dso1.example.com", "DSO")
    change_url = reverse("admin:registry_participant_change", args=[participant.pk])
    page = admin_client.get(change_url)
    assert page.status_code == 200
    assert participant.public_key in page.content.decode()
    assert admin_client.get(reverse("admin:registry_participant_add")).status_code == 403
    response = admin_client.post(change_url, {"domain": "evil.example.com", "role": "AGR"})
    assert response.status_code == 403
    participant.refresh_from_db()
    assert (participant.domain, participant.role) == ("dso1.example.com", "DSO")


def test_the_admin_shows_the_newer_participant_fields(admin_client, make_participant):
    participant, _ = make_participant("agr1.example.com", "AGR", public_key_previous="")
    page = admin_client.get(
        reverse("admin:registry_participant_change", args=[participant.pk])
    ).content.decode()
    assert "Endpoint per major version" in page and "/shapeshifter/api/v4/message" in page
    assert "Newest version" in page and "Public key previous" in page


def test_the_operational_records_are_listed_read_only(admin_client, make_participant):
    from django.utils import timezone

    from registry.models import AuditEntry, DeliveryAttempt, Heartbeat, Message, RefusalCount

    participant, _ = make_participant("dso1.example.com", "DSO")
    now = timezone.now()
    message = Message.objects.create(
        direction="out",
        message_type="TestMessage",
        sender_domain="cro.example.com",
        recipient_domain=participant.domain,
        participant=participant,
    )
    records = [
        AuditEntry.objects.create(channel="web", action="participant_bar", object_type="participant"),
        DeliveryAttempt.objects.create(
            message=message, number=1, started_at=now, duration_seconds=0.2, outcome="failed"
        ),
        Heartbeat.objects.create(component="worker", node="node-1", beat_at=now),
        RefusalCount.objects.create(
            minute=now,
            status=401,
            reason_kind="signature",
            last_reason="bad",
            count=3,
            first_at=now,
            last_at=now,
        ),
    ]
    for record in records:
        name = f"admin:registry_{type(record)._meta.model_name}"
        assert admin_client.get(reverse(f"{name}_changelist")).status_code == 200
        assert admin_client.get(reverse(f"{name}_change", args=[record.pk])).status_code == 200
        assert admin_client.get(reverse(f"{name}_add")).status_code == 403
        assert (
            admin_client.post(reverse(f"{name}_delete", args=[record.pk]), {"post": "yes"}).status_code == 403
        )
        assert type(record).objects.filter(pk=record.pk).exists()
