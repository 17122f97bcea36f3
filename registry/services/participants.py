"""Writes on participants: every entry point (commands, admin pages, API) goes through here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction

from registry.models import Participant
from registry.uftp import keys, versions
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
    max_length = Participant._meta.get_field("endpoint_url").max_length or 0
    if len(endpoint_url) > max_length:
        raise ValidationError(
            {"endpoint_url": f"the URL has {len(endpoint_url)} characters, at most {max_length} are allowed"}
        )
    try:
        URLValidator(schemes=["http", "https"])(endpoint_url)
    except ValidationError as exc:
        raise ValidationError({"endpoint_url": f"{endpoint_url!r} is not an http(s) URL"}) from exc
    return endpoint_url


def _clean_endpoints(endpoints: dict) -> dict[str, str]:
    """Endpoints per major version as stored: {"4": url}; empty URLs mean "derive it"."""
    cleaned: dict[str, str] = {}
    for major, url in endpoints.items():
        try:
            major_number = int(major)
        except (TypeError, ValueError):
            major_number = None
        if major_number not in versions.ENDPOINT_PATHS:
            supported = ", ".join(str(m) for m in versions.ENDPOINT_PATHS)
            raise ValidationError(
                {"endpoints": f"no Shapeshifter major version {major!r} (supported: {supported})"}
            )
        if not url:
            continue
        try:
            _clean_endpoint(url)
        except ValidationError as exc:
            raise ValidationError(
                {"endpoints": f"v{major_number}: {exc.message_dict['endpoint_url'][0]}"}
            ) from exc
        cleaned[str(major_number)] = url
    return cleaned


def _clean_newest_version(newest_version: str) -> str:
    if newest_version not in versions.SUPPORTED_VERSIONS:
        supported = ", ".join(versions.SUPPORTED_VERSIONS)
        raise ValidationError(
            {"newest_version": f"{newest_version!r} is not supported (supported: {supported})"}
        )
    return newest_version


def participant_upsert(
    *,
    domain: str,
    role: str,
    public_keys: list[str],
    endpoint_url: str,
    endpoints: dict | None = None,
    newest_version: str | None = None,
) -> ParticipantSaved:
    """Create the participant (domain, role) or update its keys and endpoints. Idempotent.

    `public_keys`: the current key, then optionally the previous one (still valid while the
    participant rotates keys). `endpoints`: an endpoint per major version ({4: url}) beside
    the recorded `endpoint_url`; `newest_version`: the newest version it speaks. Either left
    None keeps what is recorded (a new participant: none, and 3.1.0).
    """
    cleaned_keys = _clean(
        domain=domain,
        role=role,
        public_keys=public_keys,
        endpoint_url=endpoint_url,
        endpoints=endpoints,
        newest_version=newest_version,
    )
    return _participant_save(
        domain=domain,
        role=role,
        cleaned_keys=cleaned_keys,
        endpoint_url=endpoint_url,
        endpoints=endpoints,
        newest_version=newest_version,
    )


def _participant_save(
    *,
    domain: str,
    role: str,
    cleaned_keys: list[str],
    endpoint_url: str,
    endpoints: dict | None,
    newest_version: str | None,
) -> ParticipantSaved:
    """Create or update (domain, role) from values `_clean` accepted."""
    values: dict[str, Any] = {
        "public_key": cleaned_keys[0],
        "public_key_previous": cleaned_keys[1] if len(cleaned_keys) > 1 else "",
        "endpoint_url": endpoint_url,
    }
    if endpoints is not None:
        values["endpoints"] = _clean_endpoints(endpoints)
    if newest_version is not None:
        values["newest_version"] = newest_version
    with transaction.atomic():
        participant, created = Participant.objects.select_for_update().get_or_create(
            domain=domain, role=role, defaults=values
        )
        if not created:
            for name, value in values.items():
                setattr(participant, name, value)
            participant.full_clean()
            participant.save()
    return ParticipantSaved(participant=participant, created=created)


def participant_create(
    *,
    domain: str,
    role: str,
    public_keys: list[str],
    endpoint_url: str,
    endpoints: dict | None = None,
    newest_version: str | None = None,
) -> Participant:
    """Register a new participant; ParticipantExists when (domain, role) is registered already."""
    fields: dict[str, Any] = {
        "domain": domain,
        "role": role,
        "public_keys": public_keys,
        "endpoint_url": endpoint_url,
        "endpoints": endpoints,
        "newest_version": newest_version,
    }
    cleaned_keys = _clean(**fields)
    with transaction.atomic():
        if Participant.objects.filter(domain=domain, role=role).exists():
            raise ParticipantExists(
                {"domain": f"{domain} is registered as {role} already; change it instead of adding it"}
            )
        del fields["public_keys"]
        return _participant_save(cleaned_keys=cleaned_keys, **fields).participant


def _clean(
    *,
    domain: str,
    role: str,
    public_keys: list[str],
    endpoint_url: str,
    endpoints: dict | None = None,
    newest_version: str | None = None,
) -> list[str]:
    """Every field's error at once; the normalised keys when there is none."""
    errors: dict[str, str] = {}
    max_domain_length = Participant._meta.get_field("domain").max_length or 0
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
    if endpoints is not None:
        try:
            _clean_endpoints(endpoints)
        except ValidationError as exc:
            errors["endpoints"] = exc.message_dict["endpoints"][0]
    if newest_version is not None:
        try:
            _clean_newest_version(newest_version)
        except ValidationError as exc:
            errors["newest_version"] = exc.message_dict["newest_version"][0]
    if errors:
        raise ValidationError(errors)
    return cleaned_keys


def participant_first_contact_record(
    *, domain: str, role: str, public_keys: list[str], endpoint_url: str
) -> Participant:
    """Open mode, first contact: record the participant DNS described (source "dns").

    `public_keys`: the keys DNS publishes, one or two (during a rotation both are valid).
    """
    participant, _ = Participant.objects.get_or_create(
        domain=domain,
        role=role,
        defaults={
            "public_key": public_keys[0],
            "public_key_previous": public_keys[1] if len(public_keys) > 1 else "",
            "endpoint_url": endpoint_url,
            "source": Participant.Source.DNS,
        },
    )
    return participant


def participant_dns_refresh(
    *, participant: Participant, public_keys: list[str], endpoint_url: str
) -> Participant:
    """Follow what DNS publishes now for a participant first found there.

    One key: a key rotated in DNS becomes the current key and the one it replaces stays valid
    as the previous key, exactly as an administrator's rotation does. Two keys (a rotation
    published in DNS): both are valid; a key not known before becomes the current one.
    """
    current, previous = participant.public_key, participant.public_key_previous
    if len(public_keys) == 1:
        if public_keys[0] != current:
            current, previous = public_keys[0], current
    else:
        new = [key for key in public_keys if key not in participant.public_keys]
        if new:
            current = new[0]
        elif current not in public_keys:
            current = public_keys[0]
        previous = next(key for key in public_keys if key != current)
    changed = (current, previous, endpoint_url) != (
        participant.public_key,
        participant.public_key_previous,
        participant.endpoint_url,
    )
    if not changed:
        return participant
    participant.public_key, participant.public_key_previous = current, previous
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
