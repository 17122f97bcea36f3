"""Hardened XML parsing: no DTD, no entities, no file or network access, size limit."""

from __future__ import annotations

import time

import pytest
from lxml import etree

from registry.uftp import xmlsafe
from registry.uftp.errors import MalformedXMLError, UFTPError, XMLSecurityError

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<TestMessage Version="&lol9;">&lol9;</TestMessage>
"""


def external_entity(url: str) -> bytes:
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE TestMessage [<!ENTITY xxe SYSTEM "{url}">]>\n'
        f"<TestMessage>&xxe;</TestMessage>"
    ).encode()


@pytest.fixture
def recorded_loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every external resource libxml2 tries to load while parse_xml runs (expected: none)."""
    loads: list[str] = []

    class RecordingResolver(etree.Resolver):
        def resolve(self, url, public_id, context):
            loads.append(url)
            return self.resolve_string("", context)

    original = xmlsafe._new_parser

    def parser_with_recorder(**options) -> etree.XMLParser:
        parser = original(**options)
        parser.resolvers.add(RecordingResolver())
        return parser

    monkeypatch.setattr(xmlsafe, "_new_parser", parser_with_recorder)
    return loads


def test_plain_document_with_declaration_parses():
    root = xmlsafe.parse_xml(b'<?xml version="1.0" encoding="UTF-8"?>\n<TestMessage A="&amp;&#65;"/>')
    assert root.tag == "TestMessage"
    assert root.get("A") == "&A"  # predefined entities and character references are fine


def test_namespaced_document_still_parses_schema_refuses_it_later():
    assert xmlsafe.parse_xml(b'<TestMessage xmlns="urn:x"/>').tag == "{urn:x}TestMessage"


def test_billion_laughs_is_refused_fast(no_network):
    started = time.perf_counter()
    with pytest.raises(XMLSecurityError, match="DOCTYPE"):
        xmlsafe.parse_xml(BILLION_LAUGHS)
    assert time.perf_counter() - started < 1.0


def test_external_file_entity_is_refused_and_nothing_read(tmp_path, recorded_loads):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-MARKER")
    for url in ("file:///etc/passwd", secret.as_uri()):
        with pytest.raises(XMLSecurityError) as caught:
            xmlsafe.parse_xml(external_entity(url))
        assert "TOP-SECRET-MARKER" not in str(caught.value)
        assert "root:" not in str(caught.value)
    assert recorded_loads == []


def test_external_http_entity_is_refused_without_connecting(listening_socket, no_network, recorded_loads):
    server, port = listening_socket
    for url in (f"http://127.0.0.1:{port}/x", "http://127.0.0.1:9/x"):
        with pytest.raises(XMLSecurityError):
            xmlsafe.parse_xml(external_entity(url))
        external_dtd = f'<!DOCTYPE TestMessage SYSTEM "{url}"><TestMessage/>'.encode()
        with pytest.raises(XMLSecurityError):
            xmlsafe.parse_xml(external_dtd)
    with pytest.raises(BlockingIOError):
        server.accept()  # nobody knocked
    assert no_network == [] and recorded_loads == []


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le"])
def test_dtd_hidden_by_a_non_ascii_encoding_is_still_refused(encoding, listening_socket, recorded_loads):
    # The raw-byte pre-check cannot see "<!DOCTYPE" in UTF-16; the parsed-tree check must.
    server, port = listening_socket
    text = (
        f'<?xml version="1.0" encoding="{encoding.upper()}"?>'
        f'<!DOCTYPE TestMessage [<!ENTITY xxe SYSTEM "http://127.0.0.1:{port}/x">'
        f'<!ENTITY file SYSTEM "file:///etc/passwd">]>'
        "<TestMessage>&xxe;&file;</TestMessage>"
    )
    data = text.encode(encoding)
    if encoding == "utf-16-le":
        data = b"\xff\xfe" + data
    assert b"<!DOCTYPE" not in data
    with pytest.raises(XMLSecurityError):
        xmlsafe.parse_xml(data)
    with pytest.raises(BlockingIOError):
        server.accept()
    assert recorded_loads == []


def test_parameter_entity_is_refused(recorded_loads):
    data = b'<!DOCTYPE x [<!ENTITY % pe SYSTEM "http://127.0.0.1:9/x"> %pe;]><TestMessage/>'
    with pytest.raises(XMLSecurityError):
        xmlsafe.parse_xml(data)
    assert recorded_loads == []


def test_undeclared_entity_reference_is_refused():
    with pytest.raises(XMLSecurityError, match="entity"):
        xmlsafe.parse_xml(b"<TestMessage>&nbsp;</TestMessage>")


def test_oversized_document_is_refused_before_parsing(monkeypatch):
    def must_not_parse(*args, **kwargs):
        raise AssertionError("parsed an oversized document")

    monkeypatch.setattr(etree, "fromstring", must_not_parse)
    data = b"<TestMessage>" + b" " * 200 + b"</TestMessage>"
    with pytest.raises(XMLSecurityError, match="more than the 100 allowed"):
        xmlsafe.parse_xml(data, max_bytes=100)


def test_default_limit_is_five_megabytes():
    assert xmlsafe.DEFAULT_MAX_BYTES == 5_000_000
    with pytest.raises(XMLSecurityError):
        xmlsafe.parse_xml(b"<a>" + b"x" * 5_000_000 + b"</a>")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "XML document is empty"),
        (b"   ", "XML document is empty"),
        (
            b"<TestMessage>",
            "XML is not well-formed: Premature end of data in tag TestMessage line 1, line 1, column 14",
        ),
        (b"not xml", "XML is not well-formed: Start tag expected, '<' not found, line 1, column 1"),
        (
            b"<a></b>",
            "XML is not well-formed: Opening and ending tag mismatch: a line 1 and b, line 1, column 8",
        ),
        (b"<a/><b/>", "XML is not well-formed: Extra content at the end of the document, line 1, column 5"),
        (
            b"\xff\xfe\x00garbage",
            "XML is not well-formed: Start tag expected, '<' not found, line 1, column 1",
        ),
        (b'<a x="1" x="2"/>', "XML is not well-formed: Attribute x redefined, line 1, column 15"),
    ],
)
def test_malformed_xml_raises_malformed_xml_error(data, message):
    with pytest.raises(MalformedXMLError) as caught:
        xmlsafe.parse_xml(data)
    # What is wrong and where (libxml2's reason and position), not only that something is.
    assert str(caught.value).startswith(message), str(caught.value)
    assert isinstance(caught.value, UFTPError)


def test_deeply_nested_document_does_not_crash():
    data = b"<a>" * 100_000 + b"</a>" * 100_000
    with pytest.raises((MalformedXMLError, XMLSecurityError)):
        xmlsafe.parse_xml(data)
