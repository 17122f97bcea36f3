"""The list pages' tables (django-tables2 + django-filter): sorting, page size, search, columns,
the messages' date range, the auto-refresh switch, times labelled with the display zone."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from registry.models import Message
from registry.selectors.market_days import market_today


def domains(response) -> list[str]:
    return [participant.domain for participant in response.context["records"]]


def test_participants_sort_by_any_column_both_ways(staff_client, make_participant):
    make_participant("b.example.com", "DSO")
    make_participant("a.example.com", "AGR", status="barred")
    make_participant("c.example.com", "AGR")
    url = reverse("web:participant-list")
    assert domains(staff_client.get(url)) == ["a.example.com", "b.example.com", "c.example.com"]
    assert domains(staff_client.get(url, {"sort": "-domain"})) == [
        "c.example.com",
        "b.example.com",
        "a.example.com",
    ]
    by_role = domains(staff_client.get(url, {"sort": "role"}))
    assert by_role[-1] == "b.example.com"
    page = staff_client.get(url, {"sort": "domain"}).content.decode()
    assert 'aria-sort="ascending"' in page and "?sort=-domain" in page


def test_participants_page_size_and_free_text_search(staff_client, make_participant):
    for number in range(30):
        make_participant(f"dso{number:02}.example.com", "DSO")
    url = reverse("web:participant-list")
    assert len(domains(staff_client.get(url))) == 30
    assert len(domains(staff_client.get(url, {"per_page": "25"}))) == 25
    second = staff_client.get(url, {"per_page": "25", "page": "2"})
    assert domains(second) == [f"dso{number:02}.example.com" for number in range(25, 30)]
    assert len(domains(staff_client.get(url, {"per_page": "7"}))) == 30  # not a choice: the default
    assert domains(staff_client.get(url, {"q": "DSO07"})) == ["dso07.example.com"]


def test_columns_can_be_chosen(staff_client, make_participant):
    make_participant("dso1.example.com", "DSO")
    url = reverse("web:participant-list")
    every = staff_client.get(url).context["table"]
    assert [column.name for column in every.columns] == [
        "domain",
        "role",
        "status",
        "keys",
        "endpoint_url",
        "source",
        "updated_at",
    ]
    chosen = staff_client.get(url, {"columns": ["status", "source"]}).context["table"]
    assert [column.name for column in chosen.columns] == ["domain", "status", "source"]


def test_messages_date_range_search_and_optional_columns(staff_client, example):
    url = reverse("web:message-list")
    today = market_today()
    Message.objects.filter(pk=example.failed.pk).update(created_at=timezone.now() - dt.timedelta(days=5))
    Message.objects.filter(pk=example.update_dso1.pk).update(created_at=timezone.now() - dt.timedelta(days=3))
    days_ago = lambda days: (today - dt.timedelta(days=days)).isoformat()  # noqa: E731
    in_range = staff_client.get(url, {"date_from": days_ago(6), "date_to": days_ago(2)}).context["records"]
    assert set(in_range) == {example.failed, example.update_dso1}
    since = staff_client.get(url, {"date_from": days_ago(4)}).context["records"]
    assert example.failed not in since and example.update_dso1 in since
    domain = example.agr_a.domain
    by_domain = staff_client.get(url, {"q": domain.upper()}).context["records"]
    assert by_domain and all(domain in m.sender_domain + m.recipient_domain for m in by_domain)
    assert len(by_domain) < Message.objects.count()
    table = staff_client.get(url).context["table"]
    assert "message_id" not in [column.name for column in table.columns]
    table = staff_client.get(url, {"columns": ["message_id", "status"]}).context["table"]
    assert [column.name for column in table.columns] == ["created_at", "status", "message_id"]
    oldest_first = staff_client.get(url, {"sort": "created_at"}).context["records"]
    assert oldest_first[0] == example.failed


def test_message_list_has_the_auto_refresh_switch_and_names_the_time_zone(staff_client, example, settings):
    page = staff_client.get(reverse("web:message-list")).content.decode()
    assert 'data-auto-refresh="30"' in page and "/static/web/lists.js" in page
    assert f"Times in {settings.CRO_DISPLAY_TIME_ZONE}" in page


def test_one_display_time_zone_labelled_in_the_admin_the_picker_and_parsed_content(
    admin_client, example, settings
):
    settings.CRO_DISPLAY_TIME_ZONE = "America/New_York"
    message = example.update_dso1
    admin_page = admin_client.get(
        reverse("admin:registry_message_change", args=[message.pk])
    ).content.decode()
    new_york = message.created_at.astimezone(ZoneInfo("America/New_York"))
    assert new_york.strftime("%Y-%m-%d %H:%M:%S %Z") in admin_page
    assert message.created_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S") not in admin_page
    registry_page = admin_client.get(reverse("web:registry")).content.decode()
    assert "As known at (America/New_York)" in registry_page
    detail = admin_client.get(reverse("web:message-detail", kwargs={"pk": message.pk}))
    values = [row.value for row in detail.context["outline"]]
    assert any(value.endswith("(America/New_York)") for value in values), values


@pytest.mark.parametrize("name", ["message-list", "import", "dashboard"])
def test_pages_listing_times_name_their_time_zone(staff_client, example, settings, name):
    page = staff_client.get(reverse(f"web:{name}")).content.decode()
    assert f"imes in {settings.CRO_DISPLAY_TIME_ZONE}" in page
