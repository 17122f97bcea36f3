"""Writes on participants: every entry point (commands, admin pages, API) goes through here."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction

from registry.models import Participant
from registry.uftp import keys
from registry.validators import validate_internet_domain


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
    try:
        URLValidator(schemes=["http", "https"])(endpoint_url)
    except ValidationError as exc:
        raise ValidationError({"endpoint_url": f"{endpoint_url!r} is not an http(s) URL"}) from exc
    return endpoint_url


def participant_upsert(
    *, domain: str, role: str, public_keys: list[str], endpoint_url: str
) -> ParticipantSaved:
    """Create the participant (domain, role) or update its keys and endpoint. Idempotent."""
    errors: dict[str, str] = {}
    try:
        validate_internet_domain(domain)
    except ValidationError as exc:
        errors["domain"] = exc.messages[0]
    if role not in Participant.Role.values:
        errors["role"] = f"role must be DSO or AGR, not {role!r}"
    cleaned_keys: list[str] = []
    for field, clean in (
        ("public_keys", lambda: _clean_keys(public_keys)),
        ("endpoint_url", lambda: _clean_endpoint(endpoint_url)),
    ):
        try:
            value = clean()
        except ValidationError as exc:
            errors[field] = exc.message_dict[field][0]
            continue
        if field == "public_keys":
            cleaned_keys = value
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        participant, created = Participant.objects.select_for_update().get_or_create(
            domain=domain,
            role=role,
            defaults={
                "public_key": cleaned_keys[0],
                "public_key_next": cleaned_keys[1] if len(cleaned_keys) > 1 else "",
                "endpoint_url": endpoint_url,
            },
        )
        if not created:
            participant.public_key = cleaned_keys[0]
            participant.public_key_next = cleaned_keys[1] if len(cleaned_keys) > 1 else ""
            participant.endpoint_url = endpoint_url
            participant.full_clean()
            participant.save()
    return ParticipantSaved(participant=participant, created=created)


def participant_bar(*, participant: Participant) -> Participant:
    """Bar a participant: its messages are answered "Barred Sender" and nothing is applied."""
    participant.status = Participant.Status.BARRED
    participant.save(update_fields=["status", "updated_at"])
    return participant


def participant_reactivate(*, participant: Participant) -> Participant:
    participant.status = Participant.Status.ACTIVE
    participant.save(update_fields=["status", "updated_at"])
    return participant


def participant_key_rotate(*, participant: Participant, new_public_key: str) -> Participant:
    """Start a rotation: the new key becomes valid beside the current one."""
    new_key = _clean_keys([new_public_key])[0]
    if new_key in participant.public_keys:
        raise ValidationError({"public_key": "this key is already valid for the participant"})
    if participant.public_key_next:
        # A rotation was under way: the newer key stays, the oldest one goes.
        participant.public_key = participant.public_key_next
    participant.public_key_next = new_key
    participant.save(update_fields=["public_key", "public_key_next", "updated_at"])
    return participant


def participant_key_rotation_complete(*, participant: Participant) -> Participant:
    """End a rotation: only the new key stays valid."""
    if not participant.public_key_next:
        raise ValidationError({"public_key": "no key rotation is under way"})
    participant.public_key = participant.public_key_next
    participant.public_key_next = ""
    participant.save(update_fields=["public_key", "public_key_next", "updated_at"])
    return participant
