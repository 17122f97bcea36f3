"""Validators for UFTP identifiers, shared by models, forms, commands and the API."""

import re

from django.core.exceptions import ValidationError

from registry.uftp import keys

# Patterns of the UFTP InternetDomain and EntityAddress types, used with fullmatch (XSD
# patterns match the whole value; `$` would also let a trailing newline through).
INTERNET_DOMAIN_RE = re.compile(r"([a-z0-9]+(-[a-z0-9]+)*\.)+[a-z]{2,}")
ENTITY_ADDRESS_RE = re.compile(r"(ea1\.[0-9]{4}-[0-9]{2}\..{1,244}:.{1,244}|ean\.[0-9]{12,34})")


def validate_internet_domain(value: str) -> None:
    if not isinstance(value, str) or not INTERNET_DOMAIN_RE.fullmatch(value):
        raise ValidationError(
            "%(value)r is not a UFTP internet domain (lower-case labels, e.g. dso.example.com)",
            code="invalid_domain",
            params={"value": value},
        )


def validate_entity_address(value: str) -> None:
    if not isinstance(value, str) or not ENTITY_ADDRESS_RE.fullmatch(value):
        raise ValidationError(
            "%(value)r is not a UFTP entity address (ean.<12-34 digits> or ea1.YYYY-MM.<naming>:<id>)",
            code="invalid_entity_address",
            params={"value": value},
        )


def validate_public_key(value: str) -> None:
    try:
        keys.decode_public_key(value)
    except keys.KeyFormatError as exc:
        raise ValidationError(f"invalid public key: {exc}", code="invalid_public_key") from exc
