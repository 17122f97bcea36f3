"""Writes on participants: every entry point (commands, admin pages, API) goes through here."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction

from registry.models import Participant
from registry.uftp import keys
from registry.validators import validate_internet_domain


class ParticipantExists(ValidationError):
    """The (domain, role) to register is registered already."""


@dataclass(frozen=True)
class ParticipantSaved:
    participant: Participant
    created: bool


def _clean_keys(public_keys: list[str]) -> list[str]:
    if not 1 <= len(public_keys) <= 2:
        raise ValidationError({"public_keys": "give one or two public keys"})
    cleaned = []
    for key in public_keys:
        try:
            cleaned.append(keys.normalize_public_key(key))
        except keys.KeyFormatError as exc:
            raise ValidationError({"public_keys": f"invalid public key {key!r}: {exc}"}) from exc
    if len(cleaned) == 2 and cleaned[0] == cleaned[1]:
        raise ValidationError({"public_keys": "the two public keys are the same"})
    return cleaned


def _clean_endpoint(endpoint_url: str) -> str:
    max_length = Participant._meta.get_field("endpoint_url").max_length
    if len(endpoint_url) > max_length:
        raise ValidationError(
            {"endpoint_url": f"the URL has {len(endpoint_url)} characters, at most {max_length} are allowed"}
        )
    try:
        URLValidator(schemes=["http", "https"])(endpoint_url)
    except ValidationError as exc:
        raise ValidationError({"endpoint_url": f"{endpoint_url!r} is not an http(s) URL"}) from exc
    return endpoint_url


def participant_upsert(
    *, domain: str, role: str, public_keys: list[str], endpoint_url: str
) -> ParticipantSaved:
    """Create the participant (domain, role) or update its keys and endpoint. Idempotent.

    `public_keys`: the current key, then optionally the previous one (still valid while the
    participant rotates keys).
    """
    cleaned_keys = _clean(domain=domain, role=role, public_keys=public_keys, endpoint_url=endpoint_url)
    with transaction.atomic():
        participant, created = Participant.objects.select_for_update().get_or_create(
            domain=domain,
            role=role,
            defaults={
                "public_key": cleaned_keys[0],
                "public_key_previous": cleaned_keys[1] if len(cleaned_keys) > 1 else "",
                "endpoint_url": endpoint_url,
            },
        )
        if not created:
            participant.public_key = cleaned_keys[0]
            participant.public_key_previous = cleaned_keys[1] if len(cleaned_keys) > 1 else ""
            participant.endpoint_url = endpoint_url
            participant.full_clean()
            participant.save()
    return ParticipantSaved(participant=participant, created=created)


def participant_create(*, domain: str, role: str, public_keys: list[str], endpoint_url: str) -> Participant:
    """Register a new participant; ParticipantExists when (domain, role) is registered already."""
    _clean(domain=domain, role=role, public_keys=public_keys, endpoint_url=endpoint_url)
    with transaction.atomic():
        if Participant.objects.filter(domain=domain, role=role).exists():
            raise ParticipantExists(
                {"domain": f"{domain} is registered as {role} already; change it instead of adding it"}
            )
        return participant_upsert(
            domain=domain, role=role, public_keys=public_keys, endpoint_url=endpoint_url
        ).participant


def _clean(*, domain: str, role: str, public_keys: list[str], endpoint_url: str) -> list[str]:
    """Every field's error at once; the normalised keys when there is none."""
    errors: dict[str, str] = {}
    max_domain_length = Participant._meta.get_field("domain").max_length
    try:
        if len(domain) > max_domain_length:
            raise ValidationError(
                f"the domain has {len(domain)} characters, at most {max_domain_length} are allowed"
            )
        validate_internet_domain(domain)
    except ValidationError as exc:
        errors["domain"] = exc.messages[0]
    if role not in Participant.Role.values:
        errors["role"] = f"role must be DSO or AGR, not {role!r}"
    cleaned_keys: list[str] = []
    try:
        cleaned_keys = _clean_keys(public_keys)
    except ValidationError as exc:
        errors["public_keys"] = exc.message_dict["public_keys"][0]
    try:
        _clean_endpoint(endpoint_url)
    except ValidationError as exc:
        errors["endpoint_url"] = exc.message_dict["endpoint_url"][0]
    if errors:
        raise ValidationError(errors)
    return cleaned_keys


def participant_first_contact_record(
    *, domain: str, role: str, public_key: str, endpoint_url: str
) -> Participant:
    """Open mode, first contact: record the participant DNS described (source "dns")."""
    participant, _ = Participant.objects.get_or_create(
        domain=domain,
        role=role,
        defaults={"public_key": public_key, "endpoint_url": endpoint_url, "source": Participant.Source.DNS},
    )
    return participant


def participant_dns_refresh(*, participant: Participant, public_key: str, endpoint_url: str) -> Participant:
    """Follow what DNS publishes now for a participant first found there.

    A key rotated in DNS becomes the current key and the one it replaces stays valid as the
    previous key, exactly as an administrator's rotation does.
    """
    if public_key == participant.public_key and endpoint_url == participant.endpoint_url:
        return participant
    if public_key != participant.public_key:
        _make_current(participant, public_key)
    participant.endpoint_url = endpoint_url
    participant.save(update_fields=["public_key", "public_key_previous", "endpoint_url", "updated_at"])
    return participant


def participant_bar(*, participant: Participant) -> Participant:
    """Bar a participant: its messages are answered "Barred Sender" and nothing is applied."""
    participant.status = Participant.Status.BARRED
    participant.save(update_fields=["status", "updated_at"])
    return participant


def participant_reactivate(*, participant: Participant) -> Participant:
    participant.status = Participant.Status.ACTIVE
    participant.save(update_fields=["status", "updated_at"])
    return participant


def _make_current(participant: Participant, new_key: str) -> None:
    # The key in use until now keeps verifying as the previous one; an older previous key goes.
    participant.public_key_previous = participant.public_key
    participant.public_key = new_key


def participant_key_rotate(*, participant: Participant, new_public_key: str) -> Participant:
    """Start a rotation: the new key becomes current, the one it replaces stays valid as previous."""
    new_key = _clean_keys([new_public_key])[0]
    if new_key in participant.public_keys:
        raise ValidationError({"public_key": "this key is already valid for the participant"})
    _make_current(participant, new_key)
    participant.save(update_fields=["public_key", "public_key_previous", "updated_at"])
    return participant


def participant_key_rotation_complete(*, participant: Participant) -> Participant:
    """End a rotation: the previous key stops being valid, only the current one stays."""
    if not participant.public_key_previous:
        raise ValidationError({"public_key": "no key rotation is under way"})
    participant.public_key_previous = ""
    participant.save(update_fields=["public_key_previous", "updated_at"])
    return participant
