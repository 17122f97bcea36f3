"""The message log pages: filters, one message with its XML and signature, conversations, failed
deliveries and "retry now"."""

from __future__ import annotations

import base64
import datetime as dt

from django.urls import reverse
from django.utils import timezone

from registry import dispatch
from registry.models import Message
from registry.selectors.market_days import market_today
from registry.selectors.messages import stuck_message_list
from registry.uftp import codec


def listed(response) -> list[Message]:
    """The messages a list page shows (the message list's table, or a plain paginated page)."""
    context = response.context
    return list(context["records"] if "records" in context else context["page"])


def test_list_shows_everything_newest_first(staff_client, example):
    messages = listed(staff_client.get(reverse("web:message-list")))
    assert len(messages) == Message.objects.count() == 10
    assert messages == sorted(messages, key=lambda m: (m.created_at, m.pk), reverse=True)


def test_list_filters(staff_client, example):
    url = reverse("web:message-list")
    by_type = listed(staff_client.get(url, {"message_type": "DSOPortfolioUpdate"}))
    assert {m.message_type for m in by_type} == {"DSOPortfolioUpdate"} and len(by_type) == 2
    by_participant = listed(staff_client.get(url, {"participant": example.agr_a.pk, "direction": "in"}))
    assert [m.message_type for m in by_participant] == ["AGRPortfolioQuery", "AGRPortfolioUpdate"]
    by_status = listed(staff_client.get(url, {"status": "failed"}))
    assert by_status == [example.failed]
    by_result = listed(staff_client.get(url, {"result": "Rejected"}))
    assert by_result == []
    by_id = listed(staff_client.get(url, {"q": example.update_dso1.conversation_id[:13]}))
    assert set(by_id) == {example.update_dso1, example.failed}
    today = market_today()
    Message.objects.filter(pk=example.failed.pk).update(created_at=timezone.now() - dt.timedelta(days=3))
    three_days_ago = (today - dt.timedelta(days=3)).isoformat()
    on_day = listed(staff_client.get(url, {"date_from": three_days_ago, "date_to": three_days_ago}))
    assert on_day == [example.failed]


def test_detail_shows_pretty_xml_parsed_content_and_a_valid_signature(staff_client, example):
    response = staff_client.get(reverse("web:message-detail", kwargs={"pk": example.update_dso1.pk}))
    assert response.status_code == 200
    assert response.context["signature"].valid
    assert response.context["signature"].detail == "verifies with the participant's current key"
    xml = response.context["inner_xml"].text
    assert xml.startswith("<DSOPortfolioUpdate ")
    assert '\n  <CongestionPoint EntityAddress="ean.000000000001"' in xml
    assert '\n    <Connection EntityAddress="ean.100000000003" StartPeriod="2024-07-01"/>' in xml
    outline = {(row.label, row.value) for row in response.context["outline"]}
    assert ("congestion_points", "1 item(s)") in outline and ("#1", "ean.000000000001") in outline
    assert response.context["responses"] == [example.failed]
    envelope = response.context["signed_xml"].text
    assert 'SenderDomain="dso1.example.com"' in envelope and "characters)" in envelope


def test_outbound_signature_is_checked_with_the_cro_key(staff_client, example):
    response = staff_client.get(reverse("web:message-detail", kwargs={"pk": example.failed.pk}))
    assert response.context["signature"].valid
    assert response.context["signature"].detail == "verifies with the CRO's current key"
    assert response.context["message"].request == example.update_dso1
    assert f'action="/messages/{example.failed.pk}/retry/"' in response.content.decode()


def test_tampered_or_foreign_signature_is_shown_invalid(staff_client, example):
    envelope = codec.parse_signed_message(example.update_dso1.signed_xml.encode())
    body = bytearray(envelope.body)
    body[-20] ^= 1  # one flipped bit in the signed XML
    tampered = example.update_dso1.signed_xml.replace(
        base64.b64encode(envelope.body).decode(), base64.b64encode(bytes(body)).decode()
    )
    Message.objects.filter(pk=example.update_dso1.pk).update(signed_xml=tampered)
    response = staff_client.get(reverse("web:message-detail", kwargs={"pk": example.update_dso1.pk}))
    assert not response.context["signature"].valid
    assert "does not verify" in response.context["signature"].detail
    assert 'data-signature="invalid"' in response.content.decode()

    # Signed by someone else: dso2's key does not verify dso1's message either.
    Message.objects.filter(pk=example.update_dso1.pk).update(participant=example.dso2)
    response = staff_client.get(reverse("web:message-detail", kwargs={"pk": example.update_dso1.pk}))
    assert not response.context["signature"].valid


def test_unsafe_xml_is_not_parsed(staff_client, example):
    Message.objects.filter(pk=example.update_dso1.pk).update(
        inner_xml='<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><TestMessage>&e;</TestMessage>'
    )
    response = staff_client.get(reverse("web:message-detail", kwargs={"pk": example.update_dso1.pk}))
    assert response.status_code == 200
    assert "DTDs and entity declarations are not allowed" in response.context["inner_xml"].error
    assert "root:" not in response.content.decode()


def test_conversation_shows_request_and_response_together(staff_client, example):
    response = staff_client.get(
        reverse("web:conversation", kwargs={"conversation_id": example.update_dso1.conversation_id})
    )
    items = response.context["items"]
    assert [item["message"] for item in items] == [example.update_dso1, example.failed]
    assert all(item["signature"].valid for item in items)
    assert "<DSOPortfolioUpdateResponse " in items[1]["inner_xml"].text
    assert (
        staff_client.get(reverse("web:conversation", kwargs={"conversation_id": "nope"})).status_code == 404
    )


def test_failed_deliveries_list_only_failed_outbound(staff_client, example):
    response = staff_client.get(reverse("web:failed-deliveries"))
    assert listed(response) == [example.failed]
    assert "gave up after 7 attempts" in response.content.decode()


def test_retry_now_queues_a_failed_delivery_again(
    staff_client, example, django_capture_on_commit_callbacks, monkeypatch
):
    dispatched = []
    monkeypatch.setattr(
        dispatch, "message_delivery_enqueue", lambda *, message_pk, **_: dispatched.append(message_pk)
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            reverse("web:message-retry", kwargs={"pk": example.failed.pk}), {"next": "/failed-deliveries/"}
        )
    assert response.status_code == 302 and response["Location"] == "/failed-deliveries/"
    example.failed.refresh_from_db()
    assert example.failed.status == Message.Status.RESPONSE_QUEUED
    assert example.failed.give_up_at > timezone.now()
    assert dispatched == [example.failed.pk]
    assert listed(staff_client.get(reverse("web:failed-deliveries"))) == []


def test_retry_refuses_what_did_not_fail(staff_client, example):
    response = staff_client.post(
        reverse("web:message-retry", kwargs={"pk": example.update_dso1.pk}), follow=True
    )
    assert "only a failed outbound message can be retried" in response.content.decode()
    example.update_dso1.refresh_from_db()
    assert example.update_dso1.status == Message.Status.PROCESSED


def test_retry_ignores_a_foreign_next_url(staff_client, example):
    response = staff_client.post(
        reverse("web:message-retry", kwargs={"pk": example.failed.pk}), {"next": "https://evil.example.com/"}
    )
    assert response["Location"] == reverse("web:message-detail", kwargs={"pk": example.failed.pk})


def test_dashboard_counts_and_chart(staff_client, example):
    response = staff_client.get(reverse("web:dashboard"))
    counts = response.context["counts"]
    assert (counts.participants, counts.dsos, counts.agrs) == (4, 2, 2)
    assert counts.congestion_points == 2
    assert counts.connections == 4  # distinct connections in current memberships
    assert (counts.messages_today_in, counts.messages_today_out) == (5, 5)
    assert counts.failed_deliveries == 1
    chart = response.context["chart"]
    assert len(chart.bars) == 72 and chart.total_in == 5 and chart.total_out == 5
    assert chart.bars[-1].height_in > 0 and chart.bars[0].height_in == 0
    assert list(response.context["failed"]) == [example.failed]
    assert response.content.decode().count('class="bar-in"') == 1


def test_stuck_means_older_than_the_sweep_threshold(staff_client, example, settings):
    """One threshold: a message the sweep would dispatch again is shown as stuck, a younger one is not."""
    settings.CRO_SWEEP_AFTER_SECONDS = 300
    now = timezone.now()
    older, younger = example.update_dso1, example.failed
    Message.objects.filter(pk=older.pk).update(
        status=Message.Status.RECEIVED, updated_at=now - dt.timedelta(seconds=301)
    )
    Message.objects.filter(pk=younger.pk).update(
        status=Message.Status.RECEIVED, updated_at=now - dt.timedelta(seconds=299)
    )

    assert list(stuck_message_list(now=now)) == [older]
    response = staff_client.get(reverse("web:dashboard"))
    assert response.context["counts"].stuck_messages == 1
    assert list(response.context["stuck"]) == [older]
