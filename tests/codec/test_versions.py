"""The version table: 3.0.0, 3.1.0 and 4.0.0 (the spec head); a major is one row, a schema set
and an endpoint path."""

from __future__ import annotations

import dataclasses
from types import MappingProxyType

import pytest
from lxml import etree

from registry.uftp import codec, versions
from registry.uftp import messages as m
from registry.uftp.errors import UnsupportedVersion
from tests.codec.samples import response_samples

V3_REFERENCES = {
    "DSOPortfolioUpdateResponse": "DSOPortfolioUpdateResponseMessageID",
    "DSOPortfolioQueryResponse": "DSOPortfolioQueryMessageID",
    "AGRPortfolioUpdateResponse": "AGRPortfolioUpdateMessageID",
    "AGRPortfolioQueryResponse": "AGRPortfolioQueryMessageID",
}


@pytest.mark.parametrize("version", ["3.0.0", "3.1.0"])
def test_3x_profiles(version):
    profile = versions.profile_for(version)
    assert (profile.version, profile.major, profile.schema_set) == (version, 3, "v3")
    assert dict(profile.reference_attributes) == V3_REFERENCES
    assert profile.reference_attribute("TestMessageResponse") is None
    assert profile.test_response_has_result_and_reference is False


def test_supported_versions_and_schema_sets():
    assert set(versions.SUPPORTED_VERSIONS) == {"3.0.0", "3.1.0", "4.0.0"}
    assert dict(versions.SCHEMA_SETS) == {3: "v3", 4: "v4"}
    assert versions.schema_major_for_path(3) == 3
    assert versions.schema_major_for_path(4) == 4
    for major in (2, 5, "3", True):
        with pytest.raises(UnsupportedVersion):
            versions.schema_major_for_path(major)


def test_endpoint_paths_are_exact_spellings_from_the_table():
    assert dict(versions.ENDPOINT_PATHS) == {
        3: "/shapeshifter/api/v3/message",
        4: "/shapeshifter/api/v4/message",
    }
    assert versions.major_for_endpoint_path("/shapeshifter/api/v3/message") == 3
    assert versions.major_for_endpoint_path("/shapeshifter/api/v4/message") == 4
    for path in (
        "/shapeshifter/api/v03/message",
        "/shapeshifter/api/v5/message",
        "/shapeshifter/api/V4/message",
        "/shapeshifter/api/v4/message/",
        "/shapeshifter/api/v\u0664/message",
    ):
        with pytest.raises(UnsupportedVersion, match="no Shapeshifter endpoint"):
            versions.major_for_endpoint_path(path)
    assert set(versions.ENDPOINT_PATHS) == set(versions.SCHEMA_SETS)
    with pytest.raises(UnsupportedVersion):
        versions.endpoint_path(5)


def test_every_major_with_a_schema_has_a_profile():
    assert {p.major for p in versions.SUPPORTED_VERSIONS.values()} == set(versions.SCHEMA_SETS)
    assert versions.DEFAULT_PARTICIPANT_VERSION in versions.SUPPORTED_VERSIONS


@pytest.mark.parametrize("version", ["3.2.0", "4.1.0", "5.0.0", "3.1", "", None])
def test_unsupported_versions(version):
    assert not versions.is_supported(version)
    with pytest.raises(UnsupportedVersion, match="not supported"):
        versions.profile_for(version)


def test_resolve_profile_falls_back_within_the_major_then_to_the_path():
    assert versions.resolve_profile("3.0.0").version == "3.0.0"
    assert versions.resolve_profile("3.9.0").version == "3.1.0"
    assert versions.resolve_profile("4.0.0").version == "4.0.0"
    assert versions.resolve_profile("4.2.0").version == "4.0.0"
    assert versions.resolve_profile("5.0.0", fallback_major=3).version == "3.1.0"
    assert versions.profile_for_major(3).version == "3.1.0"
    assert versions.profile_for_major(4).version == "4.0.0"
    with pytest.raises(UnsupportedVersion):
        versions.resolve_profile("5.0.0")
    with pytest.raises(UnsupportedVersion):
        versions.profile_for_major(5)


@pytest.mark.parametrize(
    ("version", "path_major", "spelled_as"),
    [
        ("3.0.0", 3, "3.0.0"),
        ("3.1.0", 3, "3.1.0"),
        ("4.0.0", 4, "4.0.0"),
        ("3.9.0", 3, "3.1.0"),  # unsupported: newest of the path's major
        ("4.5.0", 4, "4.0.0"),
        ("4.0.0", 3, "3.1.0"),  # major does not match the path: the path's major
        ("3.1.0", 4, "4.0.0"),
        ("9.0.0", 4, "4.0.0"),
        ("4.0.0", None, "4.0.0"),  # the CRO's own message: its version
    ],
)
def test_response_profile_follows_the_path(version, path_major, spelled_as):
    assert versions.response_profile(version, path_major=path_major).version == spelled_as


def test_major_of():
    assert versions.major_of("3.1.0") == 3
    assert versions.major_of("12.0.1") == 12
    assert versions.major_of("3.1") is None
    assert versions.major_of("\u0663.1.0") is None  # non-ASCII digits are no version we know


def test_the_head_is_a_table_row():
    # The spec head: ReferenceMessageID on every response, Result on TestMessageResponse.
    head = versions.profile_for("4.0.0")
    assert head == versions.VersionProfile(
        version="4.0.0",
        major=4,
        schema_set="v4",
        reference_attributes=MappingProxyType(
            {name: "ReferenceMessageID" for name in (*V3_REFERENCES, "TestMessageResponse")}
        ),
        test_response_has_result_and_reference=True,
    )
    for name, message in response_samples("4.0.0").items():
        root = codec.to_element(message, profile=head)
        if name == "TestMessage":
            continue
        assert root.get("ReferenceMessageID") == message.reference_message_id, name
        assert root.get("Result") == str(message.result), name
        assert not any(
            attribute.endswith("MessageID") and attribute not in ("MessageID", "ReferenceMessageID")
            for attribute in root.attrib
        )


def test_profiles_are_immutable():
    profile = versions.profile_for("3.1.0")
    with pytest.raises(dataclasses.FrozenInstanceError):
        profile.major = 4
    with pytest.raises(TypeError):
        profile.reference_attributes["X"] = "Y"


def test_3x_test_message_response_is_bare_metadata():
    message = response_samples("3.0.0")["TestMessageResponse"]
    assert message.result == m.Result.ACCEPTED and message.reference_message_id
    root = etree.fromstring(codec.serialize(message))
    assert set(root.attrib) == {
        "Version",
        "SenderDomain",
        "RecipientDomain",
        "TimeStamp",
        "MessageID",
        "ConversationID",
    }
