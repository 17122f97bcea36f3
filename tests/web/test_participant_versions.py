"""The participant pages show and edit the endpoint per major version and the newest version."""

from django.urls import reverse

from registry.models import Participant

V3 = "https://dso9.example.com/shapeshifter/api/v3/message"
V4 = "https://dso9-four.example.com/uftp"


def test_edit_sets_an_endpoint_per_major_and_the_newest_version(staff_client, make_participant):
    participant, _ = make_participant("dso9.example.com", "DSO", endpoint_url=V3)
    form = {
        "public_key": participant.public_key,
        "public_key_previous": "",
        "endpoint_url": V3,
        "endpoint_url_v3": "",
        "endpoint_url_v4": V4,
        "newest_version": "4.0.0",
    }
    response = staff_client.post(reverse("web:participant-edit", args=[participant.pk]), form)
    assert response.status_code == 302, response.context["form"].errors
    participant.refresh_from_db()
    assert participant.endpoints == {"4": V4}
    assert participant.newest_version == "4.0.0"

    page = staff_client.get(reverse("web:participant-detail", args=[participant.pk])).content.decode()
    assert V4 in page and "Newest version" in page and "4.0.0" in page
    edit = staff_client.get(reverse("web:participant-edit", args=[participant.pk])).content.decode()
    assert f'value="{V4}"' in edit


def test_a_bad_endpoint_for_a_major_is_refused(staff_client, make_participant):
    participant, _ = make_participant("dso9.example.com", "DSO", endpoint_url=V3)
    form = {
        "public_key": participant.public_key,
        "endpoint_url": V3,
        "endpoint_url_v4": "javascript:alert(1)",
        "newest_version": "3.1.0",
    }
    response = staff_client.post(reverse("web:participant-edit", args=[participant.pk]), form)
    assert response.status_code == 400
    assert "v4" in str(response.context["form"].errors)
    assert Participant.objects.get(pk=participant.pk).endpoints == {}


def test_participant_add_command_takes_the_endpoints_and_the_newest_version(db):
    from django.core.management import CommandError, call_command

    from registry.uftp import keys

    args = ["--domain", "dso9.example.com", "--role", "DSO", "--public-key", keys.generate_keypair()[1]]
    call_command(
        "participant_add", *args, "--endpoint", V3, "--endpoint-for", f"4={V4}", "--newest-version", "4.0.0"
    )
    participant = Participant.objects.get(domain="dso9.example.com")
    assert (participant.endpoints, participant.newest_version) == ({"4": V4}, "4.0.0")
    # Run again without the flags: what is recorded stays.
    call_command("participant_add", *args, "--endpoint", V3)
    participant.refresh_from_db()
    assert (participant.endpoints, participant.newest_version) == ({"4": V4}, "4.0.0")
    for bad in (
        ["--endpoint-for", "4"],
        ["--endpoint-for", "9=https://x.example.com/"],
        ["--newest-version", "5.0.0"],
    ):
        try:
            call_command("participant_add", *args, "--endpoint", V3, *bad)
        except CommandError:
            continue
        raise AssertionError(f"{bad} was accepted")
