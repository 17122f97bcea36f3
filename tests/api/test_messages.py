"""/api/messages/: metadata and status; raw XML only with ?include=xml; retry of failed deliveries."""

import datetime as dt

import pytest
from django.utils import timezone

from registry.models import Message
from tests.api.conftest import AGR_A, DSO1, make_message

URL = "/api/messages/"
XML_FIELDS = {"signed_xml", "inner_xml"}


@pytest.fixture
def log(registry):
    """Three messages: an update from DSO 1, its failed response, a TestMessage to AGR A."""
    update = make_message(
        registry.dso1,
        direction="in",
        status="processed",
        message_type="DSOPortfolioUpdate",
        conversation_id="conv-1",
    )
    response = make_message(
        registry.dso1,
        direction="out",
        status="failed",
        message_type="DSOPortfolioUpdateResponse",
        conversation_id="conv-1",
        request=update,
        result="Accepted",
        last_error="HTTP 503",
    )
    test = make_message(registry.agr_a, direction="out", status="delivered", message_type="TestMessage")
    Message.objects.filter(pk=update.pk).update(created_at=timezone.now() - dt.timedelta(days=2))
    return {"update": update, "response": response, "test": test}


def ids(client, **params) -> list[int]:
    response = client.get(URL, params)
    assert response.status_code == 200, response.json()
    return [row["id"] for row in response.json()["results"]]


def test_list_shows_metadata_newest_first_without_xml(log, staff_client):
    response = staff_client.get(URL)
    rows = response.json()["results"]
    assert [row["id"] for row in rows] == [log["test"].pk, log["response"].pk, log["update"].pk]
    failed = rows[1]
    assert not XML_FIELDS & set(failed)
    assert failed["direction"] == "out"
    assert failed["status"] == "failed"
    assert failed["message_type"] == "DSOPortfolioUpdateResponse"
    assert failed["request"] == log["update"].pk
    assert failed["participant"] == log["update"].participant_id
    assert (failed["recipient_domain"], failed["sender_role"], failed["result"], failed["last_error"]) == (
        DSO1,
        "CRO",
        "Accepted",
        "HTTP 503",
    )
    assert "<SignedMessage" not in response.content.decode()


def test_xml_only_on_request(log, staff_client):
    rows = staff_client.get(URL, {"include": "xml"}).json()["results"]
    # Every message of the log, each with its own XML (an empty list would prove nothing).
    stored = {message.pk: message for message in log.values()}
    assert sorted(row["id"] for row in rows) == sorted(stored)
    for row in rows:
        assert {field: row.get(field) for field in XML_FIELDS} == {
            field: getattr(stored[row["id"]], field) for field in XML_FIELDS
        }
    detail = staff_client.get(f"{URL}{log['update'].pk}/", {"include": "xml"}).json()
    assert detail["inner_xml"] == log["update"].inner_xml
    assert detail["signed_xml"] == log["update"].signed_xml
    plain = staff_client.get(f"{URL}{log['update'].pk}/").json()
    assert not XML_FIELDS & set(plain)
    assert staff_client.get(URL, {"include": "everything"}).status_code == 400
    # One message refuses an unknown or empty include too, instead of answering without XML.
    for bad_include in ("everything", ""):
        assert staff_client.get(f"{URL}{log['update'].pk}/", {"include": bad_include}).status_code == 400
    assert staff_client.get(URL, {"include": ""}).status_code == 400


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"direction": "in"}, ["update"]),
        ({"direction": "out"}, ["test", "response"]),
        ({"status": "failed"}, ["response"]),
        ({"message_type": "TestMessage"}, ["test"]),
        ({"conversation_id": "conv-1"}, ["response", "update"]),
        ({"result": "Accepted"}, ["response"]),
        ({"dso": DSO1}, ["response", "update"]),
        ({"agr": AGR_A}, ["test"]),
        ({"agr": DSO1}, []),
        ({"domain": AGR_A}, ["test"]),
        ({"domain": "cro.example.com", "direction": "out"}, ["test", "response"]),
        ({"created_before": "{yesterday}"}, ["update"]),
        ({"created_after": "{yesterday}"}, ["test", "response"]),
    ],
)
def test_filters(log, registry, staff_client, params, expected):
    yesterday = (timezone.now() - dt.timedelta(days=1)).isoformat()
    params = {key: value.format(yesterday=yesterday) for key, value in params.items()}
    assert ids(staff_client, **params) == [log[name].pk for name in expected]


def test_filter_by_participant_and_message_id(log, registry, staff_client):
    assert ids(staff_client, participant=registry.agr_a.pk) == [log["test"].pk]
    assert ids(staff_client, message_id=log["update"].message_id) == [log["update"].pk]
    assert staff_client.get(URL, {"participant": "x"}).status_code == 400
    assert staff_client.get(URL, {"participant": "0"}).status_code == 400
    assert staff_client.get(URL, {"direction": "sideways"}).status_code == 400


def test_pagination(log, staff_client):
    page = staff_client.get(URL, {"limit": 2}).json()
    assert (page["count"], len(page["results"])) == (3, 2)
    assert staff_client.get(URL, {"limit": 2, "offset": 2}).json()["results"][0]["id"] == log["update"].pk
    assert staff_client.get(URL, {"limit": "two"}).status_code == 400


def test_admin_retries_a_failed_delivery(log, admin_client):
    response = admin_client.post(f"{URL}{log['response'].pk}/retry/")
    assert response.status_code == 200
    assert response.json()["status"] == "response_queued"
    log["response"].refresh_from_db()
    assert log["response"].status == Message.Status.RESPONSE_QUEUED
    assert log["response"].give_up_at > timezone.now()


@pytest.mark.parametrize("name", ["test", "update"])
def test_only_failed_outbound_messages_can_be_retried(log, admin_client, name):
    response = admin_client.post(f"{URL}{log[name].pk}/retry/")
    assert response.status_code == 409
    assert response.json() == {"non_field_errors": ["only a failed outbound message can be retried"]}
    before = log[name].status
    log[name].refresh_from_db()
    assert log[name].status == before
