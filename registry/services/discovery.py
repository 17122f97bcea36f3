"""Open mode: find an unknown sender's public keys and endpoint in DNS (cro-rules §7)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

import dns.exception
import dns.flags
import dns.resolver
from django.conf import settings
from django.core.cache import cache

from registry.uftp import keys, versions

_HOST_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?", re.ASCII)
# A TXT record holds one key, or two during a rotation (both valid).
MAX_PUBLISHED_KEYS = 2


class DiscoveryError(Exception):
    """DNS gave no usable answer; the sender is answered 419 and may try again."""


@dataclass(frozen=True)
class DiscoveredParticipant:
    domain: str
    role: str
    # The keys DNS publishes, in the record's order: one, or two during a rotation.
    public_keys: tuple[str, ...]
    endpoint_url: str

    @property
    def public_key(self) -> str:
        return self.public_keys[0]


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
    if settings.CRO_DNS_REQUIRE_DNSSEC:
        # Ask for DNSSEC data and for the AD flag (RFC 6840 §5.7): the validating resolver sets
        # it on answers it validated.
        resolver.use_edns(0, dns.flags.DO, 1232)
        resolver.flags = dns.flags.RD | dns.flags.AD
    return resolver


def _resolve(resolver: dns.resolver.Resolver, name: str, rdtype: str) -> dns.resolver.Answer:
    """An answer, refused unless DNSSEC-validated when the setting requires it."""
    answer = resolver.resolve(name, rdtype)
    if settings.CRO_DNS_REQUIRE_DNSSEC and not answer.response.flags & dns.flags.AD:
        raise DiscoveryError(f"the DNS answer for {name} ({rdtype}) is not DNSSEC-validated (no AD flag)")
    return answer


def _txt(resolver: dns.resolver.Resolver, name: str) -> str:
    answer = _resolve(resolver, name, "TXT")
    return b"".join(answer[0].strings).decode("ascii").strip()


def _published_keys(resolver: dns.resolver.Resolver, name: str) -> list[str]:
    """The space-separated cs1. strings of a `_<role>._usef` TXT record."""
    answer = _resolve(resolver, name, "TXT")
    return [item for rdata in answer for item in b"".join(rdata.strings).decode("ascii").split()]


def _keys_from(cs1_strings: list[str], *, domain: str, role: str) -> tuple[str, ...]:
    if not 1 <= len(cs1_strings) <= MAX_PUBLISHED_KEYS:
        raise DiscoveryError(
            f"DNS publishes {len(cs1_strings)} keys for {domain} ({role}); one, or two during a rotation"
        )
    public_keys: list[str] = []
    for cs1 in cs1_strings:
        try:
            public_key, _encryption_key = keys.from_cs1(cs1)
        except keys.KeyFormatError as exc:
            raise DiscoveryError(f"DNS key of {domain} ({role}) is unusable: {exc}") from exc
        if public_key not in public_keys:
            public_keys.append(public_key)
    return tuple(public_keys)


def _internal_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_unspecified
        or address.is_multicast
        or address.is_reserved
    )


def _check_host_is_public(resolver: dns.resolver.Resolver, host: str) -> None:
    """Refuse a host that is, or resolves to, an internal address: DNS must not make the CRO
    post to hosts inside its own network."""
    addresses = []
    try:
        addresses.append(ipaddress.ip_address(host))
    except ValueError:
        for rdtype in ("A", "AAAA"):
            try:
                addresses.extend(
                    ipaddress.ip_address(rdata.address) for rdata in _resolve(resolver, host, rdtype)
                )
            except (dns.resolver.NoAnswer, dns.resolver.NXDOMAIN):
                continue
    if not addresses:
        raise DiscoveryError(f"the endpoint host {host} found in DNS has no address")
    internal = [str(address) for address in addresses if _internal_address(address)]
    if internal:
        raise DiscoveryError(
            f"the endpoint host {host} found in DNS resolves to an internal address ({', '.join(internal)}): refused"
        )


def _lookup(domain: str, role: str) -> DiscoveredParticipant:
    resolver = _resolver()
    role_label = role.lower()
    try:
        cs1_strings = _published_keys(resolver, f"_{role_label}._usef.{domain}")
        target = _resolve(resolver, f"_http._{role_label}._usef.{domain}", "CNAME")[0].target
        version = _txt(resolver, f"_usef.{domain}")
        host = target.to_text(omit_final_dot=True)
        if not _HOST_NAME.fullmatch(host):
            raise DiscoveryError(f"the CNAME of {domain} ({role}) is not a host name: {host[:100]!r}")
        if not settings.CRO_DNS_ALLOW_INTERNAL_ENDPOINTS:
            _check_host_is_public(resolver, host)
    except (dns.exception.DNSException, UnicodeDecodeError, IndexError) as exc:
        raise DiscoveryError(f"DNS lookup for {domain} ({role}) failed: {exc.__class__.__name__}") from exc
    public_keys = _keys_from(cs1_strings, domain=domain, role=role)
    major = versions.major_of(version)
    if major is None:
        raise DiscoveryError(f"DNS version of {domain} is not X.Y.Z: {version!r}")
    # https on its default port 443 (a CNAME carries no port); the tests alone may use http.
    scheme = settings.CRO_DNS_ENDPOINT_SCHEME if settings.CRO_DNS_ALLOW_INTERNAL_ENDPOINTS else "https"
    endpoint = f"{scheme}://{host}/shapeshifter/api/v{major}/message"
    return DiscoveredParticipant(domain=domain, role=role, public_keys=public_keys, endpoint_url=endpoint)


def participant_discover(*, domain: str, role: str) -> DiscoveredParticipant:
    """The sender's keys and endpoint from DNS, cached for CRO_DNS_CACHE_SECONDS."""
    cache_key = f"cro:dns:v2:{role}:{domain}"
    cached = cache.get(cache_key)
    if cached is not None:
        return DiscoveredParticipant(**{**cached, "public_keys": tuple(cached["public_keys"])})
    found = _lookup(domain, role)
    cache.set(
        cache_key, {**found.__dict__, "public_keys": list(found.public_keys)}, settings.CRO_DNS_CACHE_SECONDS
    )
    return found
