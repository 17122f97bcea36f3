"""Validators for UFTP identifiers, shared by models, forms, commands and the API."""

from django.core.exceptions import ValidationError

from registry.uftp import keys
from registry.uftp.vocabulary import ENTITY_ADDRESS_RE, INTERNET_DOMAIN_RE


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
