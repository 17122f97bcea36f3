"""Open mode: find an unknown sender's public keys and endpoint in DNS (cro-rules §7)."""

from __future__ import annotations

from dataclasses import dataclass

import dns.exception
import dns.resolver
from django.conf import settings
from django.core.cache import cache

from registry.uftp import keys, versions


class DiscoveryError(Exception):
    """DNS gave no usable answer; the sender is answered 419 and may try again."""


@dataclass(frozen=True)
class DiscoveredParticipant:
    domain: str
    role: str
    public_key: str
    endpoint_url: str


def _resolver() -> dns.resolver.Resolver:
    resolver = dns.resolver.Resolver(configure=not settings.CRO_DNS_NAMESERVERS)
    if settings.CRO_DNS_NAMESERVERS:
        resolver.nameservers = []
        for entry in settings.CRO_DNS_NAMESERVERS:
            host, _, port = entry.partition(":")
            resolver.nameservers.append(host)
            if port:
                resolver.port = int(port)
    resolver.lifetime = settings.CRO_DNS_TIMEOUT_SECONDS
    resolver.timeout = settings.CRO_DNS_TIMEOUT_SECONDS
    return resolver


def _txt(resolver: dns.resolver.Resolver, name: str) -> str:
    answer = resolver.resolve(name, "TXT")
    return b"".join(answer[0].strings).decode("ascii").strip()


def _lookup(domain: str, role: str) -> DiscoveredParticipant:
    resolver = _resolver()
    role_label = role.lower()
    try:
        cs1 = _txt(resolver, f"_{role_label}._usef.{domain}")
        target = resolver.resolve(f"_http._{role_label}._usef.{domain}", "CNAME")[0].target
        version = _txt(resolver, f"_usef.{domain}")
    except (dns.exception.DNSException, UnicodeDecodeError, IndexError) as exc:
        raise DiscoveryError(f"DNS lookup for {domain} ({role}) failed: {exc.__class__.__name__}") from exc
    try:
        public_key, _encryption_key = keys.from_cs1(cs1)
    except keys.KeyFormatError as exc:
        raise DiscoveryError(f"DNS key of {domain} ({role}) is unusable: {exc}") from exc
    major = versions.major_of(version)
    if major is None:
        raise DiscoveryError(f"DNS version of {domain} is not X.Y.Z: {version!r}")
    host = target.to_text(omit_final_dot=True)
    endpoint = f"{settings.CRO_DNS_ENDPOINT_SCHEME}://{host}/shapeshifter/api/v{major}/message"
    return DiscoveredParticipant(domain=domain, role=role, public_key=public_key, endpoint_url=endpoint)


def participant_discover(*, domain: str, role: str) -> DiscoveredParticipant:
    """The sender's key and endpoint from DNS, cached for CRO_DNS_CACHE_SECONDS."""
    cache_key = f"cro:dns:{role}:{domain}"
    cached = cache.get(cache_key)
    if cached is not None:
        return DiscoveredParticipant(**cached)
    found = _lookup(domain, role)
    cache.set(cache_key, found.__dict__, settings.CRO_DNS_CACHE_SECONDS)
    return found
