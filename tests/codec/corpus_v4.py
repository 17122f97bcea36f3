"""Schema agreement corpus for 4.0.0 (the spec's head, xsd/latest): the 3.x corpus's bases
respelled for the head, the same systematic mutations, and the cases where the head differs
(ReferenceMessageID on every response, Result on TestMessageResponse, TimeStamp with offset).

Each case carries the official xsd/latest verdict. The one deliberate difference of our v4
schema (AGRPortfolioQueryResponse shapes, see registry/uftp/schemas/v4/cro-messages.xsd) is
NOT in this corpus; tests/codec/test_v4.py covers it.
"""

from __future__ import annotations

from collections.abc import Iterator

from tests.codec.corpus import (
    ATTRIBUTES,
    BASES,
    U1,
    VERSION_VALUES,
    Case,
    del_attr,
    mutated,
    pattern_and_enumeration_cases,
    rename_attr,
    required_and_optional_cases,
    set_attr,
    structure_cases,
)

HEAD_VERSION = "4.0.0"
REFERENCE = "ReferenceMessageID"
# The 3.x reference attribute of each response, replaced by ReferenceMessageID in the head.
V3_REFERENCES = {
    "DSOPortfolioUpdateResponse": "DSOPortfolioUpdateResponseMessageID",
    "DSOPortfolioQueryResponse": "DSOPortfolioQueryMessageID",
    "AGRPortfolioUpdateResponse": "AGRPortfolioUpdateMessageID",
    "AGRPortfolioQueryResponse": "AGRPortfolioQueryMessageID",
}
RESPONSES = (*V3_REFERENCES, "TestMessageResponse")


def _respelled(name: str, xml: str) -> str:
    xml = xml.replace('Version="3.1.0"', f'Version="{HEAD_VERSION}"')
    if name in V3_REFERENCES:
        xml = xml.replace(f'{V3_REFERENCES[name]}="', f'{REFERENCE}="')
    if name == "TestMessageResponse":
        xml = xml.replace("/>", f' Result="Accepted" {REFERENCE}="{U1}"/>')
    return xml


BASES_V4: dict[str, str] = {name: _respelled(name, xml) for name, xml in BASES.items()}


def _attributes_v4() -> dict[str, list[tuple[str, tuple[str, ...], tuple[str, ...]]]]:
    attributes = {}
    for name, entries in ATTRIBUTES.items():
        respelled = []
        for path, required, optional in entries:
            if path == "." and name in V3_REFERENCES:
                required = tuple(REFERENCE if a == V3_REFERENCES[name] else a for a in required)
            if path == "." and name == "TestMessageResponse":
                required = (*required, "Result", REFERENCE)
            respelled.append((path, required, optional))
        attributes[name] = respelled
    return attributes


ATTRIBUTES_V4 = _attributes_v4()

# DateTimeType: an offset is required, a four-digit year, at most nine fraction digits.
TIMESTAMP_VALUES_V4 = {
    "2024-05-01T10:00:00Z": True,
    "2024-05-01T10:00:00+14:00": True,
    "2024-05-01T10:00:00.5Z": True,
    "2024-05-01T10:00:00.123456789-05:30": True,
    "2024-05-01T24:00:00Z": True,
    "2024-05-01T10:00:00": False,
    "2024-05-01T10:00:00.123": False,
    "2024-05-01T10:00:00.1234567891Z": False,
    "2024-05-01T10:00:00.Z": False,
    "2024-05-01T10:00:00z": False,
    "2024-05-01T10:00:00+02": False,
    "2024-05-01T10:00:00+0200": False,
    "2024-05-01T10:00:00+1:00": False,
    "12024-05-01T10:00:00Z": False,
    "-2024-05-01T10:00:00Z": False,
    "\u0662024-05-01T10:00:00Z": False,
    "2024-05-01 10:00:00Z": False,
    "2024-05-01": False,
    "2024-13-01T10:00:00Z": False,
    "2024-02-30T10:00:00Z": False,
    "2024-05-01T10:00Z": False,
    "yesterday": False,
}
UUID_REFERENCE_VALUES = {
    "0B7E4A5C-1D2E-4F30-8A41-5B6C7D8E9F01": True,
    "0b7e4a5c1d2e4f308a415b6c7d8e9f01": False,
    "42": False,
    "": False,
}


def _head_cases() -> Iterator[Case]:
    """Where the head differs from 3.x: references, TestMessageResponse, TimeStamp."""
    for name in RESPONSES:
        for value, valid in UUID_REFERENCE_VALUES.items():
            yield Case(
                f"{name}: {REFERENCE}={value!r}",
                mutated(name, set_attr(".", REFERENCE, value), BASES_V4),
                valid,
            )
        yield Case(
            f"{name}: Result='Rejected' with a reason",
            mutated(
                name,
                lambda root: (root.set("Result", "Rejected"), root.set("RejectionReason", "no")),
                BASES_V4,
            ),
            # A Rejected AGRPortfolioQueryResponse with a DSO-View is still valid XSD-wise.
            True,
        )
        yield Case(
            f"{name}: Result='Success'", mutated(name, set_attr(".", "Result", "Success"), BASES_V4), False
        )
        # Sorted: pytest-xdist workers must collect the cases in one order.
        for v3_name in sorted(
            {V3_REFERENCES.get(name, "TestMessageMessageID"), "DSOPortfolioUpdateResponseMessageID"}
        ):
            yield Case(
                f"{name}: 3.x reference {v3_name} instead",
                mutated(name, rename_attr(".", REFERENCE, v3_name), BASES_V4),
                False,
            )
            yield Case(
                f"{name}: 3.x reference {v3_name} as well",
                mutated(name, set_attr(".", v3_name, U1), BASES_V4),
                False,
            )
        # The 3.x spelling of the response, only its Version said 4.0.0.
        yield Case(
            f"{name}: 3.x spelling with Version 4.0.0",
            BASES[name].replace('Version="3.1.0"', f'Version="{HEAD_VERSION}"').encode(),
            False,
        )
    yield Case(
        "TestMessageResponse: no Result and no reference (3.x)",
        mutated(
            "TestMessageResponse",
            lambda root: (del_attr(".", "Result")(root), del_attr(".", REFERENCE)(root)),
            BASES_V4,
        ),
        False,
    )
    # TimeStamp on the messages the CRO receives and sends that the pattern cases skip.
    for name in ("TestMessage", "TestMessageResponse", "DSOPortfolioUpdate", "AGRPortfolioUpdateResponse"):
        for value, valid in (("2024-05-01T10:00:00", False), ("2024-05-01T08:00:00Z", True)):
            yield Case(
                f"{name}: ./@TimeStamp={value!r}",
                mutated(name, set_attr(".", "TimeStamp", value), BASES_V4),
                valid,
            )
    # Requests are the same in the head as in 3.x: Result or a reference on one is invalid.
    for name in ("DSOPortfolioUpdate", "AGRPortfolioQuery", "TestMessage"):
        yield Case(f"{name}: {REFERENCE}", mutated(name, set_attr(".", REFERENCE, U1), BASES_V4), False)


def build_corpus_v4() -> list[Case]:
    cases = [Case(f"{name}: base", BASES_V4[name].encode(), True) for name in BASES_V4]
    cases += required_and_optional_cases(BASES_V4, ATTRIBUTES_V4)
    cases += pattern_and_enumeration_cases(
        BASES_V4, timestamp_values=TIMESTAMP_VALUES_V4, version_values=VERSION_VALUES
    )
    cases += structure_cases(BASES_V4)
    cases += _head_cases()
    names = [case.name for case in cases]
    duplicates = {name for name in names if names.count(name) > 1}
    assert not duplicates, f"duplicate corpus case names: {duplicates}"
    return cases


CORPUS_V4 = build_corpus_v4()
