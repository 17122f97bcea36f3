"""Controls and invisible format characters (U+202E and its kin) in entity addresses: refused by
one rule on every entry path, the codec's schemas and the Python pattern alike (issue 15)."""

import re
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError

from registry.services import csv_format, csv_io
from registry.uftp import codec, errors
from registry.uftp.vocabulary import ENTITY_ADDRESS_FORBIDDEN_RANGES, ENTITY_ADDRESS_RE
from registry.validators import validate_entity_address
from tests import factories

SCHEMAS = Path(codec.__file__).resolve().parent / "schemas"
GOOD = "ea1.2024-01.example.com:cp-7"
# Each range's ends; those XML can carry (no C0 control but the three whitespace ones).
FORBIDDEN = sorted({code for first, last in ENTITY_ADDRESS_FORBIDDEN_RANGES for code in (first, last)})
IN_XML = [code for code in FORBIDDEN if code >= 0x7F]


def spoofed(code: int) -> str:
    return f"ea1.2024-01.example.com:cp{chr(code)}7"


@pytest.mark.parametrize("code", [*FORBIDDEN, 0x09, 0x0A, 0x0D], ids=lambda code: f"U+{code:04X}")
def test_the_pattern_and_the_validator_refuse_it(code):
    assert not ENTITY_ADDRESS_RE.fullmatch(spoofed(code))
    with pytest.raises(ValidationError):
        validate_entity_address(spoofed(code))


@pytest.mark.parametrize("address", [GOOD, "ea1.2024-01.énergie.example:poste-Zürich-東", "ean.000000000001"])
def test_letters_of_any_script_stay_allowed(address):
    assert ENTITY_ADDRESS_RE.fullmatch(address)
    validate_entity_address(address)
    cp = factories.cp(address, "2024-01-01", None, factories.conn("ean.100000000001", "2024-01-01"))
    inner = codec.serialize(factories.dso_update("dso1.example.com", cp))
    assert codec.parse_message(inner, path_major=3).congestion_points[0].entity_address == address


def _update_xml(address: str, major: int) -> bytes:
    version = "3.1.0" if major == 3 else "4.0.0"
    cp = factories.cp(GOOD, "2024-01-01", None, factories.conn("ean.100000000001", "2024-01-01"))
    inner = codec.serialize(factories.dso_update("dso1.example.com", cp, version=version))
    return inner.replace(GOOD.encode(), address.encode("utf-8"))


@pytest.mark.parametrize("major", [3, 4])
@pytest.mark.parametrize("code", IN_XML, ids=lambda code: f"U+{code:04X}")
def test_the_codec_refuses_it(code, major):
    assert codec.parse_message(_update_xml(GOOD, major), path_major=major)
    with pytest.raises(errors.SchemaError):
        codec.parse_message(_update_xml(spoofed(code), major), path_major=major)


@pytest.mark.parametrize("major", ["v3", "v4"])
def test_the_schemas_forbid_exactly_the_vocabulary_ranges(major):
    """The XSD writes controls as \\p{Cc} (U+0000-001F, U+007F-009F) and the rest as references."""
    text = (SCHEMAS / major / "cro-messages.xsd").read_text()
    classes = set(re.findall(r"\[\^\\p\{Cc\}([^\]]*)\]", text))
    assert len(classes) == 1
    others = [(first, last) for first, last in ENTITY_ADDRESS_FORBIDDEN_RANGES if first > 0x9F]
    expected = "".join(
        f"&#x{first:X};" if first == last else f"&#x{first:X};-&#x{last:X};" for first, last in others
    )
    assert classes == {expected}
    assert ENTITY_ADDRESS_FORBIDDEN_RANGES[:2] == ((0x00, 0x1F), (0x7F, 0x9F))


HEADER = (
    "congestion_point,cp_start,cp_end,mutex_offers_supported,day_ahead_redispatch_by,"
    "intraday_redispatch_by,connection,connection_start,connection_end\n"
)


@pytest.mark.parametrize("code", [0x01, 0x7F, 0x202E, 0x2066, 0xFEFF], ids=lambda code: f"U+{code:04X}")
@pytest.mark.parametrize("column", ["congestion_point", "connection"])
def test_the_csv_import_refuses_it(code, column):
    cp_address = spoofed(code) if column == "congestion_point" else GOOD
    connection = spoofed(code) if column == "connection" else "ean.100000000001"
    text = HEADER + f"{cp_address},2024-01-01,,true,DSO,AGR,{connection},2024-01-01,\n"
    with pytest.raises(csv_format.CsvInvalid) as refused:
        csv_io.csv_portfolio_parse(text=text)
    assert [error.column for error in refused.value.row_errors] == [column]
    # The same row with a clean address is read.
    clean = HEADER + f"{GOOD},2024-01-01,,true,DSO,AGR,ean.100000000001,2024-01-01,\n"
    assert csv_io.csv_portfolio_parse(text=clean).row_count == 1
