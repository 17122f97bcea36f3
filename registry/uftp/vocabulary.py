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

# UFTP EntityAddress: ean.<12-34 digits> or ea1.YYYY-MM.<naming authority>:<id>.
ENTITY_ADDRESS_PATTERN: Final = r"(ea1\.[0-9]{4}-[0-9]{2}\..{1,244}:.{1,244}|ean\.[0-9]{12,34})"
ENTITY_ADDRESS_RE: Final = re.compile(ENTITY_ADDRESS_PATTERN)

# Who may talk to the CRO: "closed" only registered participants, "open" also senders found in DNS.
CRO_MODES: Final = ("closed", "open")

# How the CRO handles an AGR claiming a connection another AGR represents (cro-rules):
# "reject" refuses the claim, "supersede" lets the newer claim replace the older one.
AGR_CONFLICT_POLICIES: Final = ("reject", "supersede")

__all__ = [
    "AGR_CONFLICT_POLICIES",
    "CRO_MODES",
    "ENTITY_ADDRESS_PATTERN",
    "ENTITY_ADDRESS_RE",
    "INTERNET_DOMAIN_PATTERN",
    "INTERNET_DOMAIN_RE",
]
