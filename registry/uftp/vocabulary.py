"""Words and patterns of the protocol, and of the CRO's own rules, named once.

Models, forms, serializers, services and the codec import them from here (the codec stays free of
Django, so this module does too). Patterns are written for both Python and ECMA-262 (the API's
JSON Schema) and are meant for `fullmatch`: XSD patterns match the whole value, and `$` would let
a trailing newline through.
"""

from __future__ import annotations

import re
from typing import Final

# UFTP InternetDomain: lower-case labels and a top-level domain of two letters or more.
INTERNET_DOMAIN_PATTERN: Final = r"([a-z0-9]+(-[a-z0-9]+)*\.)+[a-z]{2,}"
INTERNET_DOMAIN_RE: Final = re.compile(INTERNET_DOMAIN_PATTERN)

# Characters no entity address may hold, as inclusive code point ranges: controls (C0, DEL, C1)
# and the invisible format characters that make one address display as another (soft hyphen,
# Arabic letter mark, zero-width characters, line and paragraph separators, bidirectional
# embeddings, overrides and isolates, word joiners, byte order mark, interlinear annotation).
# The codec's schemas (schemas/v*/cro-messages.xsd, EntityAddressText) refuse the same ranges,
# so every entry path (UFTP, CSV import, forms, API) applies one rule.
ENTITY_ADDRESS_FORBIDDEN_RANGES: Final = (
    (0x0000, 0x001F),
    (0x007F, 0x009F),
    (0x00AD, 0x00AD),
    (0x061C, 0x061C),
    (0x180E, 0x180E),
    (0x200B, 0x200F),
    (0x2028, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
)
_ENTITY_ADDRESS_CHAR: Final = (
    "[^" + "".join(f"\\u{first:04X}-\\u{last:04X}" for first, last in ENTITY_ADDRESS_FORBIDDEN_RANGES) + "]"
)

# UFTP EntityAddress: ean.<12-34 digits> or ea1.YYYY-MM.<naming authority>:<id>.
ENTITY_ADDRESS_PATTERN: Final = (
    rf"(ea1\.[0-9]{{4}}-[0-9]{{2}}\.{_ENTITY_ADDRESS_CHAR}{{1,244}}:{_ENTITY_ADDRESS_CHAR}{{1,244}}"
    r"|ean\.[0-9]{12,34})"
)
ENTITY_ADDRESS_RE: Final = re.compile(ENTITY_ADDRESS_PATTERN)

# Who may talk to the CRO: "closed" only registered participants, "open" also senders found in DNS.
CRO_MODES: Final = ("closed", "open")

# How the CRO handles an AGR claiming a connection another AGR represents (cro-rules):
# "reject" refuses the claim, "supersede" lets the newer claim replace the older one.
AGR_CONFLICT_POLICIES: Final = ("reject", "supersede")

__all__ = [
    "AGR_CONFLICT_POLICIES",
    "CRO_MODES",
    "ENTITY_ADDRESS_FORBIDDEN_RANGES",
    "ENTITY_ADDRESS_PATTERN",
    "ENTITY_ADDRESS_RE",
    "INTERNET_DOMAIN_PATTERN",
    "INTERNET_DOMAIN_RE",
]
