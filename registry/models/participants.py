"""Participants: the DSOs and AGRs allowed to talk to the CRO, with their keys and endpoints."""

import re

from django.db import models
from django.db.models import Q

from registry.uftp import messages as uftp_messages
from registry.uftp import versions
from registry.validators import validate_internet_domain, validate_public_key

_CONVENTIONAL_PATH = re.compile(r"/shapeshifter/api/v[0-9]+/message/?$")


def endpoint_url_for_major(endpoint_url: str, major: int) -> str:
    """`endpoint_url` turned to `major` by the path convention (/shapeshifter/api/v<major>/message).

    A URL that does not follow the convention is the participant's only endpoint: kept as it is.
    """
    match = _CONVENTIONAL_PATH.search(endpoint_url)
    if match is None:
        return endpoint_url
    return endpoint_url[: match.start()] + f"/shapeshifter/api/v{major}/message"


class ParticipantRole(models.TextChoices):
    DSO = uftp_messages.Role.DSO.value, "DSO"
    AGR = uftp_messages.Role.AGR.value, "AGR"


class ParticipantStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    BARRED = "barred", "Barred"


class Participant(models.Model):
    Role = ParticipantRole
    Status = ParticipantStatus

    class Source(models.TextChoices):
        ADMIN = "admin", "Registered by an administrator"
        DNS = "dns", "Discovered in DNS (open mode)"

    domain = models.CharField(max_length=253, validators=[validate_internet_domain])
    role = models.CharField(max_length=3, choices=Role.choices)
    # Base64 of the 32-byte Ed25519 public key in use. While a participant rotates keys, the key it
    # replaced (the previous one) stays valid beside it until the rotation is completed.
    public_key = models.CharField(max_length=44, validators=[validate_public_key])
    public_key_previous = models.CharField(
        max_length=44, blank=True, default="", validators=[validate_public_key]
    )
    # The endpoint recorded for the participant. Responses go to the endpoint of the request's
    # major: an entry of `endpoints` (major -> URL) when there is one, else this URL with its
    # /shapeshifter/api/v<n>/message path turned to that major (the spec's path convention).
    endpoint_url = models.URLField(max_length=500)
    endpoints = models.JSONField(default=dict, blank=True)
    # The newest Shapeshifter version the participant speaks: the CRO's TestMessage uses it.
    newest_version = models.CharField(max_length=16, default=versions.DEFAULT_PARTICIPANT_VERSION)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.ACTIVE)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.ADMIN)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["domain", "role"]
        constraints = [
            models.UniqueConstraint(fields=["domain", "role"], name="participant_unique_domain_role"),
            models.CheckConstraint(
                condition=Q(role__in=ParticipantRole.values), name="participant_role_is_dso_or_agr"
            ),
            models.CheckConstraint(
                condition=Q(status__in=ParticipantStatus.values), name="participant_status_is_known"
            ),
            models.CheckConstraint(
                condition=~Q(public_key_previous=models.F("public_key")),
                name="participant_second_key_differs_from_first",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.domain} ({self.role})"

    @property
    def public_keys(self) -> list[str]:
        """Every key a signature may verify with: the current one, then the previous one."""
        return [key for key in (self.public_key, self.public_key_previous) if key]

    def endpoint_for_major(self, major: int) -> str:
        """Where the CRO posts a message of `major` to this participant."""
        recorded = (self.endpoints or {}).get(str(major))
        if recorded:
            return recorded
        return endpoint_url_for_major(self.endpoint_url, major)

    @property
    def endpoints_by_major(self) -> dict[int, str]:
        """The endpoint of every major version the CRO speaks, recorded or derived."""
        return {major: self.endpoint_for_major(major) for major in versions.ENDPOINT_PATHS}

    @property
    def is_barred(self) -> bool:
        return self.status == self.Status.BARRED
