"""The receive path's per-process cache of participants (their keys, above all).

A web process reads a sender's participant record at most every `CACHE_SECONDS`; the receive
path reads it again at once when a signature does not verify with the cached keys (so a key
rotation made by another process is picked up on the first message signed with the new key),
and every save or delete of a participant (`services/participants`, the admin) forgets the
entry in its own process.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.db.models.signals import post_delete, post_save

from registry.models import Participant

CACHE_SECONDS = 10.0

# (domain, role) -> (monotonic time read, participant)
_read: dict[tuple[str, str], tuple[float, Participant]] = {}


def participant_cached(*, domain: str, role: str, fresh: bool = False) -> Participant | None:
    """The participant (domain, role), from the cache unless `fresh` or older than CACHE_SECONDS."""
    now = time.monotonic()
    cached = None if fresh else _read.get((domain, role))
    if cached is not None and now - cached[0] < CACHE_SECONDS:
        return cached[1]
    participant = Participant.objects.filter(domain=domain, role=role).first()
    if participant is None:
        _read.pop((domain, role), None)
    elif not (settings.CRO_MODE == "open" and participant.source == Participant.Source.DNS):
        # Open mode follows DNS for those on every message (discovery caches DNS itself).
        _read[(domain, role)] = (now, participant)
    return participant


def is_cached(*, domain: str, role: str) -> bool:
    return (domain, role) in _read


def forget(*, domain: str, role: str) -> None:
    _read.pop((domain, role), None)


def forget_all() -> None:
    _read.clear()


def _forget_saved(sender, instance: Participant, **kwargs) -> None:
    forget(domain=instance.domain, role=instance.role)


# A model signal rather than a call in each service: the admin pages and the data migrations
# save participants too.
post_save.connect(_forget_saved, sender=Participant, dispatch_uid="participant_keys_forget_saved")
post_delete.connect(_forget_saved, sender=Participant, dispatch_uid="participant_keys_forget_deleted")
