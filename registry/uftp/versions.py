"""Every difference between the Shapeshifter versions the CRO speaks, in one table.

3.0.0 and 3.1.0 (major 3) and the spec's head, which names no version string and which we
call 4.0.0 (major 4: every response carries `ReferenceMessageID`, TestMessageResponse
carries `Result`, TimeStamp must carry an offset). To add a major version: write its schema
set under `schemas/`, add it to `SCHEMA_SETS` and `ENDPOINT_PATHS`, and add one
`VersionProfile` row per version to `SUPPORTED_VERSIONS`. Nothing else names a version or
an endpoint path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from .errors import UnsupportedVersion

# Directory under registry/uftp/schemas/ holding the schema of each major version.
SCHEMA_SETS: Mapping[int, str] = MappingProxyType({3: "v3", 4: "v4"})

# The CRO's endpoint of each major ("each major version a different url-path"). Only these
# exact spellings are served: /api/v03/ is not /api/v3/.
ENDPOINT_PATHS: Mapping[int, str] = MappingProxyType(
    {
        3: "/shapeshifter/api/v3/message",
        4: "/shapeshifter/api/v4/message",
    }
)

# The spec's head names no version string; this is ours (semantic versioning).
HEAD_VERSION = "4.0.0"

# The version a participant is assumed to speak until told otherwise (cro-rules §2).
DEFAULT_PARTICIPANT_VERSION = "3.1.0"

_VERSION_PATTERN = re.compile(r"([0-9]+)\.([0-9]+)\.([0-9]+)", re.ASCII)


@dataclass(frozen=True, kw_only=True)
class VersionProfile:
    """How one Shapeshifter version spells the CRO messages."""

    version: str
    major: int
    schema_set: str
    # Response element name -> attribute holding the request's MessageID.
    reference_attributes: Mapping[str, str]
    # False in 3.x: TestMessageResponse is bare metadata. True in the spec head.
    test_response_has_result_and_reference: bool

    def reference_attribute(self, response_type: str) -> str | None:
        """The attribute naming the request's MessageID in `response_type`, if it has one."""
        return self.reference_attributes.get(response_type)


# 3.0.0 and 3.1.0 name the reference after the request, except DSOPortfolioUpdateResponse,
# which names it after itself (sic, as in the official XSD).
_V3_REFERENCE_ATTRIBUTES: Mapping[str, str] = MappingProxyType(
    {
        "DSOPortfolioUpdateResponse": "DSOPortfolioUpdateResponseMessageID",
        "DSOPortfolioQueryResponse": "DSOPortfolioQueryMessageID",
        "AGRPortfolioUpdateResponse": "AGRPortfolioUpdateMessageID",
        "AGRPortfolioQueryResponse": "AGRPortfolioQueryMessageID",
    }
)

# The head names the reference ReferenceMessageID on every response, TestMessageResponse too.
_HEAD_REFERENCE_ATTRIBUTES: Mapping[str, str] = MappingProxyType(
    {name: "ReferenceMessageID" for name in (*_V3_REFERENCE_ATTRIBUTES, "TestMessageResponse")}
)

SUPPORTED_VERSIONS: Mapping[str, VersionProfile] = MappingProxyType(
    {
        **{
            version: VersionProfile(
                version=version,
                major=3,
                schema_set=SCHEMA_SETS[3],
                reference_attributes=_V3_REFERENCE_ATTRIBUTES,
                test_response_has_result_and_reference=False,
            )
            for version in ("3.0.0", "3.1.0")
        },
        HEAD_VERSION: VersionProfile(
            version=HEAD_VERSION,
            major=4,
            schema_set=SCHEMA_SETS[4],
            reference_attributes=_HEAD_REFERENCE_ATTRIBUTES,
            test_response_has_result_and_reference=True,
        ),
    }
)


def parse_version(version: str | None) -> tuple[int, int, int] | None:
    """(major, minor, patch) of a `d.d.d` version string, or None when it is not one."""
    if not isinstance(version, str):
        return None
    match = _VERSION_PATTERN.fullmatch(version)
    if match is None:
        return None
    return int(match[1]), int(match[2]), int(match[3])


def major_of(version: str | None) -> int | None:
    """The major number of a version string, or None when it is not `d.d.d`."""
    parsed = parse_version(version)
    return parsed[0] if parsed else None


def is_supported(version: str | None) -> bool:
    return version in SUPPORTED_VERSIONS


def profile_for(version: str) -> VersionProfile:
    """The profile of a version the CRO supports; UnsupportedVersion otherwise."""
    try:
        return SUPPORTED_VERSIONS[version]
    except (KeyError, TypeError):
        supported = ", ".join(SUPPORTED_VERSIONS)
        raise UnsupportedVersion(
            f"Shapeshifter version {version!r} is not supported (supported: {supported})"
        ) from None


def profile_for_major(major: int) -> VersionProfile:
    """The newest supported profile of a major version; UnsupportedVersion if there is none."""
    candidates = [p for p in SUPPORTED_VERSIONS.values() if p.major == major]
    if not candidates:
        raise UnsupportedVersion(f"Shapeshifter major version {major} is not supported")
    return max(candidates, key=lambda profile: parse_version(profile.version) or (0, 0, 0))


def resolve_profile(version: str | None, *, fallback_major: int | None = None) -> VersionProfile:
    """The profile to read or write a message of `version` with.

    The exact version if supported, else the newest profile of the same major (a 3.9.0
    message is still spelled like 3.x), else the newest of `fallback_major`.
    """
    if version is not None and version in SUPPORTED_VERSIONS:
        return SUPPORTED_VERSIONS[version]
    major = major_of(version)
    if major is not None and any(p.major == major for p in SUPPORTED_VERSIONS.values()):
        return profile_for_major(major)
    if fallback_major is not None:
        return profile_for_major(fallback_major)
    raise UnsupportedVersion(f"Shapeshifter version {version!r} is not supported")


def response_profile(version: str | None, *, path_major: int | None) -> VersionProfile:
    """How to spell the answer to a request of `version` that arrived at `path_major`'s endpoint.

    The request's own profile when the CRO supports it at that endpoint; otherwise (an
    unsupported version, or a major that does not match the path) the newest profile of the
    path's major, since the answer goes to the requester's endpoint of that major.
    """
    if path_major is None:
        return resolve_profile(version)
    profile = SUPPORTED_VERSIONS.get(version) if isinstance(version, str) else None
    if profile is not None and profile.major == path_major:
        return profile
    return profile_for_major(path_major)


def endpoint_path(major: int) -> str:
    """The CRO's endpoint path of a major version, e.g. /shapeshifter/api/v4/message."""
    try:
        return ENDPOINT_PATHS[major]
    except (KeyError, TypeError):
        raise UnsupportedVersion(f"no endpoint for Shapeshifter major version {major!r}") from None


def major_for_endpoint_path(path: str) -> int:
    """The major version served at `path` (exact spelling only); UnsupportedVersion otherwise."""
    for major, served in ENDPOINT_PATHS.items():
        if path == served:
            return major
    supported = ", ".join(ENDPOINT_PATHS.values())
    raise UnsupportedVersion(f"no Shapeshifter endpoint at {path[:200]!r}: this CRO serves {supported}")


def schema_major_for_path(major: int) -> int:
    """Check that the URL path's major version (e.g. 3 for /api/v3/) has a schema set."""
    if isinstance(major, bool) or not isinstance(major, int) or major not in SCHEMA_SETS:
        supported = ", ".join(str(m) for m in SCHEMA_SETS)
        raise UnsupportedVersion(
            f"no schema for Shapeshifter major version {major!r} (supported: {supported})"
        )
    return major


def schema_set_for_major(major: int) -> str:
    """Directory name under schemas/ of a major version's schema."""
    return SCHEMA_SETS[schema_major_for_path(major)]
