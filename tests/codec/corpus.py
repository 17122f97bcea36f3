"""Schema agreement corpus: valid base messages and mutations of them, each with the verdict
the official 3.0.0/3.1.0 XSD gives. Generated in code, so every pattern, enumeration,
required attribute and cardinality of the CRO messages is exercised systematically.

The two deliberate differences of our schema (see registry/uftp/schemas/v3/cro-messages.xsd)
are NOT in this corpus; tests/codec/test_schema_differences.py covers them.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from lxml import etree

U1 = "0b7e4a5c-1d2e-4f30-8a41-5b6c7d8e9f01"
U2 = "1c8f5b6d-2e3f-4041-9b52-6c7d8e9fa012"
U3 = "2d906c7e-3f40-4152-ac63-7d8e9fa0b123"
HEADER = (
    f'Version="3.1.0" SenderDomain="dso1.example.com" RecipientDomain="cro.example.com" '
    f'TimeStamp="2024-05-01T10:00:00+02:00" MessageID="{U1}" ConversationID="{U2}"'
)
CRO_HEADER = (
    f'Version="3.1.0" SenderDomain="cro.example.com" RecipientDomain="agr-a.example.com" '
    f'TimeStamp="2024-05-01T10:00:00.123+02:00" MessageID="{U3}" ConversationID="{U2}"'
)
ZONE = 'TimeZone="Europe/Amsterdam"'

BASES: dict[str, str] = {
    "SignedMessage": '<SignedMessage SenderDomain="dso1.example.com" SenderRole="DSO" Body="SGVsbG8="/>',
    "TestMessage": f"<TestMessage {HEADER}/>",
    "TestMessageResponse": f"<TestMessageResponse {HEADER}/>",
    "DSOPortfolioUpdate": f"""<DSOPortfolioUpdate {HEADER} {ZONE}>
  <CongestionPoint EntityAddress="ean.000000000001" StartPeriod="2024-01-01" EndPeriod="2024-12-31"
      MutexOffersSupported="true" DayAheadRedispatchBy="DSO" IntradayRedispatchBy="AGR">
    <Connection EntityAddress="ean.100000000001" StartPeriod="2024-01-01" EndPeriod="2024-06-30"/>
    <Connection EntityAddress="ea1.2024-01.example.com:conn-2" StartPeriod="2024-02-01"/>
  </CongestionPoint>
</DSOPortfolioUpdate>""",
    "DSOPortfolioUpdateResponse": (
        f'<DSOPortfolioUpdateResponse {CRO_HEADER} Result="Accepted" '
        f'DSOPortfolioUpdateResponseMessageID="{U1}"/>'
    ),
    "DSOPortfolioQuery": (
        f'<DSOPortfolioQuery {HEADER} {ZONE} Period="2024-07-15" EntityAddress="ean.000000000001"/>'
    ),
    "DSOPortfolioQueryResponse": f"""<DSOPortfolioQueryResponse {CRO_HEADER} Result="Accepted"
    DSOPortfolioQueryMessageID="{U1}" {ZONE} Period="2024-07-15">
  <CongestionPoint EntityAddress="ean.000000000001">
    <Connection EntityAddress="ean.100000000001" AGR-Domain="agr-a.example.com"/>
    <Connection EntityAddress="ean.100000000003"/>
  </CongestionPoint>
</DSOPortfolioQueryResponse>""",
    "AGRPortfolioUpdate": f"""<AGRPortfolioUpdate {HEADER} {ZONE}>
  <Connection EntityAddress="ean.100000000001" StartPeriod="2024-01-01" EndPeriod="2024-12-31"/>
  <Connection EntityAddress="ean.100000000009" StartPeriod="2024-01-01"/>
</AGRPortfolioUpdate>""",
    "AGRPortfolioUpdateResponse": (
        f'<AGRPortfolioUpdateResponse {CRO_HEADER} Result="Rejected" '
        f'RejectionReason="Connection conflict" AGRPortfolioUpdateMessageID="{U1}"/>'
    ),
    "AGRPortfolioQuery": f'<AGRPortfolioQuery {HEADER} {ZONE} Period="2024-06-15"/>',
    "AGRPortfolioQueryResponse": f"""<AGRPortfolioQueryResponse {CRO_HEADER} Result="Accepted"
    AGRPortfolioQueryMessageID="{U1}" {ZONE} Period="2024-06-15">
  <DSO-View>
    <DSO-Portfolio DSO-Domain="dso1.example.com">
      <CongestionPoint EntityAddress="ean.000000000001" MutexOffersSupported="true"
          DayAheadRedispatchBy="DSO" IntradayRedispatchBy="AGR">
        <Connection EntityAddress="ean.100000000001"/>
        <Connection EntityAddress="ean.100000000002"/>
      </CongestionPoint>
    </DSO-Portfolio>
    <Connection EntityAddress="ean.100000000009"/>
  </DSO-View>
</AGRPortfolioQueryResponse>""",
}
INNER_TYPES = [name for name in BASES if name != "SignedMessage"]

METADATA = ("Version", "SenderDomain", "RecipientDomain", "TimeStamp", "MessageID", "ConversationID")
RESPONSE_OUTCOME = ("Result",)

# Per type: (path to an element, its required attributes, its optional attributes).
# Written from the message catalog + the 3.x reference attribute names.
ATTRIBUTES: dict[str, list[tuple[str, tuple[str, ...], tuple[str, ...]]]] = {
    "SignedMessage": [(".", ("SenderDomain", "SenderRole", "Body"), ())],
    "TestMessage": [(".", METADATA, ())],
    "TestMessageResponse": [(".", METADATA, ())],
    "DSOPortfolioUpdate": [
        (".", (*METADATA, "TimeZone"), ()),
        (
            "CongestionPoint",
            ("EntityAddress", "StartPeriod", "MutexOffersSupported", "DayAheadRedispatchBy"),
            ("EndPeriod", "IntradayRedispatchBy"),
        ),
        ("CongestionPoint/Connection", ("EntityAddress", "StartPeriod"), ("EndPeriod",)),
    ],
    "DSOPortfolioUpdateResponse": [
        (".", (*METADATA, *RESPONSE_OUTCOME, "DSOPortfolioUpdateResponseMessageID"), ()),
    ],
    "DSOPortfolioQuery": [(".", (*METADATA, "TimeZone", "Period", "EntityAddress"), ())],
    "DSOPortfolioQueryResponse": [
        (
            ".",
            (*METADATA, *RESPONSE_OUTCOME, "DSOPortfolioQueryMessageID", "TimeZone", "Period"),
            (),
        ),
        ("CongestionPoint", ("EntityAddress",), ()),
        ("CongestionPoint/Connection", ("EntityAddress",), ("AGR-Domain",)),
    ],
    "AGRPortfolioUpdate": [
        (".", (*METADATA, "TimeZone"), ()),
        ("Connection", ("EntityAddress", "StartPeriod"), ("EndPeriod",)),
    ],
    "AGRPortfolioUpdateResponse": [
        (".", (*METADATA, *RESPONSE_OUTCOME, "AGRPortfolioUpdateMessageID"), ("RejectionReason",)),
    ],
    "AGRPortfolioQuery": [(".", (*METADATA, "TimeZone", "Period"), ())],
    "AGRPortfolioQueryResponse": [
        (
            ".",
            (*METADATA, *RESPONSE_OUTCOME, "AGRPortfolioQueryMessageID", "TimeZone", "Period"),
            (),
        ),
        ("DSO-View/DSO-Portfolio", ("DSO-Domain",), ()),
        (
            "DSO-View/DSO-Portfolio/CongestionPoint",
            ("EntityAddress", "MutexOffersSupported", "DayAheadRedispatchBy"),
            ("IntradayRedispatchBy",),
        ),
        ("DSO-View/DSO-Portfolio/CongestionPoint/Connection", ("EntityAddress",), ()),
        ("DSO-View/Connection", ("EntityAddress",), ()),
    ],
}


@dataclass(frozen=True)
class Case:
    name: str
    xml: bytes
    valid: bool  # the official 3.0.0 and 3.1.0 verdict

    @property
    def root_tag(self) -> str:
        return self.name.split(":", 1)[0]


Mutation = Callable[[etree._Element], None]


def base(name: str, bases: dict[str, str] | None = None) -> etree._Element:
    return etree.fromstring((bases or BASES)[name].encode())


def mutated(name: str, mutation: Mutation, bases: dict[str, str] | None = None) -> bytes:
    root = base(name, bases)
    mutation(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


_mutated = mutated


def _node(root: etree._Element, path: str) -> etree._Element:
    node = root if path == "." else root.find(path)
    assert node is not None, path
    return node


def set_attr(path: str, attribute: str, value: str) -> Mutation:
    return lambda root: _node(root, path).set(attribute, value)


def del_attr(path: str, attribute: str) -> Mutation:
    return lambda root: _node(root, path).attrib.pop(attribute)


def rename_attr(path: str, old: str, new: str) -> Mutation:
    def apply(root: etree._Element) -> None:
        node = _node(root, path)
        node.set(new, node.attrib.pop(old))

    return apply


def remove_all(path: str, tag: str) -> Mutation:
    def apply(root: etree._Element) -> None:
        parent = _node(root, path)
        for child in parent.findall(tag):
            parent.remove(child)

    return apply


def duplicate(path: str) -> Mutation:
    def apply(root: etree._Element) -> None:
        node = _node(root, path)
        node.addnext(copy.deepcopy(node))

    return apply


def append(path: str, fragment: str, *, index: int | None = None) -> Mutation:
    def apply(root: etree._Element) -> None:
        parent = _node(root, path)
        child = etree.fromstring(fragment)
        if index is None:
            parent.append(child)
        else:
            parent.insert(index, child)

    return apply


def set_text(path: str, text: str) -> Mutation:
    return lambda root: setattr(_node(root, path), "text", text)


def rename_element(path: str, tag: str) -> Mutation:
    return lambda root: setattr(_node(root, path), "tag", tag)


def required_and_optional_cases(bases: dict[str, str], attributes: dict) -> Iterator[Case]:
    # Every required attribute removed: invalid. Every optional one removed: still valid.
    for name, entries in attributes.items():
        for path, required, optional in entries:
            for attribute in required:
                yield Case(
                    f"{name}: no {path}/@{attribute}", mutated(name, del_attr(path, attribute), bases), False
                )
            for attribute in optional:
                yield Case(
                    f"{name}: no optional {path}/@{attribute}",
                    mutated(name, del_attr(path, attribute), bases),
                    True,
                )
        # Any attribute the message does not define: invalid.
        yield Case(f"{name}: unknown attribute", mutated(name, set_attr(".", "Comment", "x"), bases), False)


def _value_cases(
    name: str, path: str, attribute: str, values: dict[str, bool], bases: dict[str, str] | None = None
) -> Iterator[Case]:
    for value, valid in values.items():
        yield Case(
            f"{name}: {path}/@{attribute}={value!r}",
            mutated(name, set_attr(path, attribute, value), bases),
            valid,
        )


DOMAIN_VALUES = {
    "a.b.c.example.com": True,
    "my-dso.example.com": True,
    "123.example.nl": True,
    # No "--": punycode (IDN) labels are refused by the spec's pattern.
    "xn--bcher-kva.example": False,
    "Example.com": False,
    "example": False,
    "-dso.example.com": False,
    "dso-.example.com": False,
    "dso--x.example.com": False,
    "dso..example.com": False,
    "dso.example.c": False,
    "dso.example.com.": False,
    "dso_1.example.com": False,
    "dso.example.c0m": False,
    " dso.example.com": False,
    "": False,
}
UUID_VALUES = {
    "0B7E4A5C-1D2E-4F30-8A41-5B6C7D8E9F01": True,
    "00000000-0000-0000-0000-000000000000": True,
    "0b7e4a5c1d2e4f308a415b6c7d8e9f01": False,
    "{0b7e4a5c-1d2e-4f30-8a41-5b6c7d8e9f01}": False,
    "0b7e4a5c-1d2e-4f30-8a41-5b6c7d8e9f0": False,
    "0b7e4a5c-1d2e-4f30-8a41-5b6c7d8e9f012": False,
    "gb7e4a5c-1d2e-4f30-8a41-5b6c7d8e9f01": False,
    "not-a-uuid": False,
}
VERSION_VALUES = {
    "3.0.0": True,
    "3.9.0": True,
    "5.0.0": True,
    "10.20.30": True,
    "3.1": False,
    "3.1.0.1": False,
    "v3.1.0": False,
    "3.1.0 ": False,
    "3.1.x": False,
}
TIMESTAMP_VALUES = {
    "2024-05-01T10:00:00Z": True,
    "2024-05-01T10:00:00": True,
    "2024-05-01T10:00:00.123456789-05:30": True,
    "2024-05-01T24:00:00Z": True,
    "2024-05-01 10:00:00Z": False,
    "2024-05-01": False,
    "2024-13-01T10:00:00Z": False,
    "2024-05-01T10:00Z": False,
    "2024-05-01T10:00:00+1:00": False,
    "yesterday": False,
}
TIMEZONE_VALUES = {
    "Europe/Amsterdam": True,
    "America/Argentina/Buenos_Aires": True,
    "Pacific/Port_Moresby": True,
    "Africa/Abidjan": True,
    "Australia/ACT": True,
    "Asia/Tokyo": False,
    "UTC": False,
    "Etc/GMT+1": False,
    "Europe/Am": False,
    "europe/Amsterdam": False,
    "Europe/Amster-dam": False,
    "Europe/Amsterdam ": False,
}
LONG_LOCAL = "x" * 244
ENTITY_ADDRESS_VALUES = {
    "ean.123456789012": True,
    "ean." + "1" * 34: True,
    "ean.12345678901": False,
    "ean." + "1" * 35: False,
    "ean.12345678901a": False,
    "EAN.123456789012": False,
    "ean:123456789012": False,
    "ea1.2024-01.example.com:conn-1": True,
    "ea1.2024-01.a:b:c": True,
    f"ea1.2024-01.example.com:{LONG_LOCAL}": True,
    f"ea1.2024-01.example.com:{LONG_LOCAL}x": False,
    "ea1.2024-01.example.com": False,
    "ea1.2024-01.example.com:": False,
    "ea1.2024-01.:x": False,
    "ea1.24-01.example.com:x": False,
    "ea1.2024-1.example.com:x": False,
    "": False,
}
DATE_VALUES = {
    "2024-02-29": True,
    "2024-01-01Z": True,
    "2024-01-01+01:00": True,
    "2023-02-29": False,
    "2024-13-01": False,
    "2024-1-01": False,
    "01-01-2024": False,
    "2024-01-01T00:00:00": False,
    "": False,
}
BOOLEAN_VALUES = {"true": True, "false": True, "1": True, "0": True, "True": False, "yes": False, "": False}
REDISPATCH_VALUES = {"AGR": True, "DSO": True, "CRO": False, "BRP": False, "dso": False, "": False}
RESULT_VALUES = {"Accepted": True, "Rejected": True, "Success": False, "Failure": False, "accepted": False}
ROLE_VALUES = {"AGR": True, "CRO": True, "DSO": True, "BRP": False, "MDC": False, "cro": False}
BASE64_VALUES = {
    "": True,
    "SGVs bG8=": True,
    "SGVs\nbG8=": True,
    "SGVsbG8": False,
    "SGVsbG9=": False,
    "SGVsbG8==": False,
    "SGVs!G8=": False,
    "SGVsbG8=SGVs": False,
}


def pattern_and_enumeration_cases(
    bases: dict[str, str], *, timestamp_values: dict[str, bool], version_values: dict[str, bool]
) -> Iterator[Case]:
    values = functools.partial(_value_cases, bases=bases)
    # Metadata patterns on one request and one response each, so both header spellings count.
    for name in ("DSOPortfolioQuery", "AGRPortfolioQueryResponse"):
        yield from values(name, ".", "Version", version_values)
        yield from values(name, ".", "MessageID", UUID_VALUES)
        yield from values(name, ".", "TimeStamp", timestamp_values)
        yield from values(name, ".", "TimeZone", TIMEZONE_VALUES)
    yield from values("TestMessage", ".", "SenderDomain", DOMAIN_VALUES)
    yield from values("TestMessageResponse", ".", "RecipientDomain", {"Example.com": False, "b.nl": True})
    yield from values("AGRPortfolioUpdate", ".", "ConversationID", {"x": False, U3: True})
    yield from values(
        "DSOPortfolioQueryResponse",
        "CongestionPoint/Connection",
        "AGR-Domain",
        {"agr.example.com": True, "AGR.example.com": False, "agr": False},
    )
    yield from values(
        "AGRPortfolioQueryResponse",
        "DSO-View/DSO-Portfolio",
        "DSO-Domain",
        {"dso2.example.com": True, "dso2": False},
    )
    yield from values(
        "SignedMessage",
        ".",
        "SenderDomain",
        {"dso1.example.com": True, "DSO1.example.com": False, "dso1": False},
    )

    # Entity addresses in every position they occur.
    yield from values("DSOPortfolioQuery", ".", "EntityAddress", ENTITY_ADDRESS_VALUES)
    for name, path in (
        ("DSOPortfolioUpdate", "CongestionPoint"),
        ("DSOPortfolioUpdate", "CongestionPoint/Connection"),
        ("AGRPortfolioUpdate", "Connection"),
        ("DSOPortfolioQueryResponse", "CongestionPoint"),
        ("DSOPortfolioQueryResponse", "CongestionPoint/Connection"),
        ("AGRPortfolioQueryResponse", "DSO-View/DSO-Portfolio/CongestionPoint"),
        ("AGRPortfolioQueryResponse", "DSO-View/DSO-Portfolio/CongestionPoint/Connection"),
        ("AGRPortfolioQueryResponse", "DSO-View/Connection"),
    ):
        yield from values(
            name,
            path,
            "EntityAddress",
            {"ean.12345678901234": True, "ean.1234": False, "ea1.2024-01.x:y": True},
        )

    # Dates.
    yield from values("AGRPortfolioQuery", ".", "Period", DATE_VALUES)
    for name, path, attribute in (
        ("DSOPortfolioUpdate", "CongestionPoint", "StartPeriod"),
        ("DSOPortfolioUpdate", "CongestionPoint", "EndPeriod"),
        ("DSOPortfolioUpdate", "CongestionPoint/Connection", "StartPeriod"),
        ("DSOPortfolioUpdate", "CongestionPoint/Connection", "EndPeriod"),
        ("AGRPortfolioUpdate", "Connection", "StartPeriod"),
        ("AGRPortfolioUpdate", "Connection", "EndPeriod"),
        ("DSOPortfolioQuery", ".", "Period"),
        ("DSOPortfolioQueryResponse", ".", "Period"),
        ("AGRPortfolioQueryResponse", ".", "Period"),
    ):
        yield from values(name, path, attribute, {"2025-12-31": True, "2025-12-32": False})

    # Enumerations and booleans.
    for name, path in (
        ("DSOPortfolioUpdate", "CongestionPoint"),
        ("AGRPortfolioQueryResponse", "DSO-View/DSO-Portfolio/CongestionPoint"),
    ):
        yield from values(name, path, "DayAheadRedispatchBy", REDISPATCH_VALUES)
        yield from values(name, path, "IntradayRedispatchBy", {"AGR": True, "DSO": True, "CRO": False})
        yield from values(name, path, "MutexOffersSupported", BOOLEAN_VALUES)
    for name in (
        "DSOPortfolioUpdateResponse",
        "DSOPortfolioQueryResponse",
        "AGRPortfolioUpdateResponse",
        "AGRPortfolioQueryResponse",
    ):
        yield from values(name, ".", "Result", RESULT_VALUES)
        yield from values(name, ".", "RejectionReason", {"Unknown congestion point": True, "": True})
    yield from values("SignedMessage", ".", "SenderRole", ROLE_VALUES)
    yield from values("SignedMessage", ".", "Body", BASE64_VALUES)


def structure_cases(bases: dict[str, str]) -> Iterator[Case]:
    """Cardinalities, children, foreign attributes and roots: the same in every major."""

    def mutated(name: str, mutation: Mutation) -> bytes:
        return _mutated(name, mutation, bases)

    yield Case(
        "DSOPortfolioUpdate: no CongestionPoint",
        mutated("DSOPortfolioUpdate", remove_all(".", "CongestionPoint")),
        False,
    )
    yield Case(
        "DSOPortfolioUpdate: two CongestionPoints",
        mutated("DSOPortfolioUpdate", duplicate("CongestionPoint")),
        True,
    )
    yield Case(
        "DSOPortfolioUpdate: CongestionPoint without Connection",
        mutated("DSOPortfolioUpdate", remove_all("CongestionPoint", "Connection")),
        False,
    )
    yield Case(
        "DSOPortfolioUpdate: three Connections",
        mutated("DSOPortfolioUpdate", duplicate("CongestionPoint/Connection")),
        True,
    )
    yield Case(
        "DSOPortfolioUpdate: Connection directly under the root",
        mutated(
            "DSOPortfolioUpdate",
            append(".", '<Connection EntityAddress="ean.100000000005" StartPeriod="2024-01-01"/>'),
        ),
        False,
    )
    yield Case(
        "DSOPortfolioUpdate: lower-case element name",
        mutated("DSOPortfolioUpdate", rename_element("CongestionPoint", "congestionPoint")),
        False,
    )
    yield Case(
        "AGRPortfolioUpdate: no Connection",
        mutated("AGRPortfolioUpdate", remove_all(".", "Connection")),
        False,
    )
    yield Case(
        "AGRPortfolioUpdate: one Connection",
        mutated("AGRPortfolioUpdate", remove_all(".", "Connection[2]")),
        True,
    )
    yield Case(
        "AGRPortfolioUpdate: unknown child", mutated("AGRPortfolioUpdate", append(".", "<Note/>")), False
    )
    yield Case(
        "DSOPortfolioQuery: child element",
        mutated("DSOPortfolioQuery", append(".", '<CongestionPoint EntityAddress="ean.000000000001"/>')),
        False,
    )
    yield Case(
        "DSOPortfolioQueryResponse: no CongestionPoint",
        mutated("DSOPortfolioQueryResponse", remove_all(".", "CongestionPoint")),
        True,
    )
    yield Case(
        "DSOPortfolioQueryResponse: two CongestionPoints",
        mutated("DSOPortfolioQueryResponse", duplicate("CongestionPoint")),
        False,
    )
    yield Case(
        "DSOPortfolioQueryResponse: CongestionPoint without Connection",
        mutated("DSOPortfolioQueryResponse", remove_all("CongestionPoint", "Connection")),
        False,
    )
    yield Case(
        "AGRPortfolioQueryResponse: two DSO-Views",
        mutated("AGRPortfolioQueryResponse", duplicate("DSO-View")),
        True,
    )
    yield Case(
        "AGRPortfolioQueryResponse: two DSO-Portfolios",
        mutated("AGRPortfolioQueryResponse", duplicate("DSO-View/DSO-Portfolio")),
        True,
    )
    yield Case(
        "AGRPortfolioQueryResponse: no unallocated Connection",
        mutated("AGRPortfolioQueryResponse", remove_all("DSO-View", "Connection")),
        True,
    )
    yield Case(
        "AGRPortfolioQueryResponse: DSO-Portfolio without CongestionPoint",
        mutated("AGRPortfolioQueryResponse", remove_all("DSO-View/DSO-Portfolio", "CongestionPoint")),
        False,
    )
    yield Case(
        "AGRPortfolioQueryResponse: CongestionPoint without Connection",
        mutated(
            "AGRPortfolioQueryResponse", remove_all("DSO-View/DSO-Portfolio/CongestionPoint", "Connection")
        ),
        False,
    )
    yield Case(
        "AGRPortfolioQueryResponse: unallocated Connection before DSO-Portfolio",
        mutated(
            "AGRPortfolioQueryResponse",
            append("DSO-View", '<Connection EntityAddress="ean.100000000008"/>', index=0),
        ),
        False,
    )
    yield Case(
        "AGRPortfolioQueryResponse: unallocated Connection inside DSO-Portfolio",
        mutated(
            "AGRPortfolioQueryResponse",
            append("DSO-View/DSO-Portfolio", '<Connection EntityAddress="ean.100000000008"/>'),
        ),
        False,
    )
    yield Case(
        "AGRPortfolioQueryResponse: CongestionPoint directly in DSO-View",
        mutated(
            "AGRPortfolioQueryResponse",
            append(
                "DSO-View",
                '<CongestionPoint EntityAddress="ean.000000000009" MutexOffersSupported="true" DayAheadRedispatchBy="DSO"><Connection EntityAddress="ean.100000000008"/></CongestionPoint>',
            ),
        ),
        False,
    )
    yield Case("TestMessage: child element", mutated("TestMessage", append(".", "<Payload/>")), False)
    yield Case("TestMessage: text content", mutated("TestMessage", set_text(".", "hello")), False)
    yield Case(
        "TestMessage: comment inside",
        mutated("TestMessage", lambda root: root.append(etree.Comment("ok"))),
        True,
    )
    yield Case("SignedMessage: child element", mutated("SignedMessage", append(".", "<Body/>")), False)
    yield Case("SignedMessage: whitespace content", mutated("SignedMessage", set_text(".", "\n")), False)
    yield Case(
        "SignedMessage: comment inside",
        mutated("SignedMessage", lambda root: root.append(etree.Comment("ok"))),
        True,
    )

    # Attributes that belong to other messages.
    yield Case(
        "DSOPortfolioUpdateResponse: TimeZone",
        mutated("DSOPortfolioUpdateResponse", set_attr(".", "TimeZone", "Europe/Amsterdam")),
        False,
    )
    yield Case(
        "AGRPortfolioQuery: ISP-Duration",
        mutated("AGRPortfolioQuery", set_attr(".", "ISP-Duration", "PT15M")),
        False,
    )
    yield Case(
        "AGRPortfolioQuery: EntityAddress",
        mutated("AGRPortfolioQuery", set_attr(".", "EntityAddress", "ean.000000000001")),
        False,
    )
    yield Case("TestMessage: Result", mutated("TestMessage", set_attr(".", "Result", "Accepted")), False)
    yield Case(
        "AGRPortfolioUpdate: Connection with AGR-Domain",
        mutated("AGRPortfolioUpdate", set_attr("Connection", "AGR-Domain", "agr.example.com")),
        False,
    )

    # Roots: namespaces and message types outside the CRO's schema.
    for name in ("TestMessage", "DSOPortfolioUpdate", "SignedMessage"):
        yield Case(
            f"{name}: in a namespace", mutated(name, rename_element(".", f"{{urn:example}}{name}")), False
        )
    yield Case(
        "FlexOffer: not a CRO message",
        bases["TestMessage"].replace("TestMessage", "FlexOffer").encode(),
        False,
    )


def _v3_reference_cases() -> Iterator[Case]:
    yield Case(
        "TestMessageResponse: ReferenceMessageID (not in 3.x)",
        mutated("TestMessageResponse", set_attr(".", "ReferenceMessageID", U1)),
        False,
    )
    # 3.x reference attribute names: exactly one spelling per response.
    for name, spelled, wrong in (
        (
            "DSOPortfolioUpdateResponse",
            "DSOPortfolioUpdateResponseMessageID",
            ("ReferenceMessageID", "DSOPortfolioUpdateMessageID"),
        ),
        (
            "DSOPortfolioQueryResponse",
            "DSOPortfolioQueryMessageID",
            ("ReferenceMessageID", "DSOPortfolioQueryResponseMessageID"),
        ),
        (
            "AGRPortfolioUpdateResponse",
            "AGRPortfolioUpdateMessageID",
            ("ReferenceMessageID", "AGRPortfolioUpdateResponseMessageID"),
        ),
        ("AGRPortfolioQueryResponse", "AGRPortfolioQueryMessageID", ("ReferenceMessageID",)),
    ):
        for other in wrong:
            yield Case(
                f"{name}: reference spelled {other}", mutated(name, rename_attr(".", spelled, other)), False
            )
        yield Case(f"{name}: reference value not a UUID", mutated(name, set_attr(".", spelled, "42")), False)
        yield Case(f"{name}: both references", mutated(name, set_attr(".", "ReferenceMessageID", U1)), False)


def build_corpus() -> list[Case]:
    cases = [Case(f"{name}: base", BASES[name].encode(), True) for name in BASES]
    cases += required_and_optional_cases(BASES, ATTRIBUTES)
    cases += pattern_and_enumeration_cases(
        BASES, timestamp_values=TIMESTAMP_VALUES, version_values=VERSION_VALUES
    )
    cases += structure_cases(BASES)
    cases += _v3_reference_cases()
    names = [case.name for case in cases]
    duplicates = {name for name in names if names.count(name) > 1}
    assert not duplicates, f"duplicate corpus case names: {duplicates}"
    return cases


CORPUS = build_corpus()
