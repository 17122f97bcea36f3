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
