"""A far-future TimeStamp must not lock an entity for good (issue 15, item 6; cro-rules §3 item 9):
it is refused ("Invalid TimeStamp"), and administrators can reset an entity's last TimeStamp."""

import datetime as dt
import logging

import pytest
from django.core.management import CommandError, call_command

from registry.models import CongestionPoint, RepresentationSequence
from registry.services.portfolio import agr_portfolio_update_apply, dso_portfolio_update_apply
from tests.factories import agr_update, conn, cp, dso_update

CP1 = "ean.000000000001"
C1, C2 = "ean.100000000001", "ean.100000000002"
FAR_FUTURE = dt.datetime(9000, 1, 1, tzinfo=dt.UTC)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def dso_apply(dso, connection: str, time_stamp=None):
    return dso_portfolio_update_apply(
        dso=dso,
        message=dso_update(
            dso.domain, cp(CP1, "2024-01-01", None, conn(connection, "2024-01-01")), time_stamp=time_stamp
        ),
    )


def agr_apply(agr, start: str, time_stamp=None):
    return agr_portfolio_update_apply(
        agr=agr, message=agr_update(agr.domain, conn(C1, start), time_stamp=time_stamp)
    )


def test_a_dso_update_stamped_far_ahead_is_refused_and_locks_nothing(dso1):
    dso_apply(dso1, C1)

    outcome = dso_apply(dso1, C2, time_stamp=FAR_FUTURE)

    assert not outcome.accepted
    assert outcome.rejection_reason.startswith(
        "Invalid TimeStamp: 9000-01-01T00:00:00+00:00 is more than 86400 seconds"
    )
    assert CongestionPoint.objects.get(entity_address=CP1).last_time_stamp < now()
    assert dso_apply(dso1, C2).accepted


def test_an_agr_update_stamped_far_ahead_is_refused_and_locks_nothing(agr_a):
    agr_apply(agr_a, "2024-01-01")

    outcome = agr_apply(agr_a, "2024-02-01", time_stamp=FAR_FUTURE)

    assert not outcome.accepted and outcome.rejection_reason.startswith("Invalid TimeStamp")
    assert RepresentationSequence.objects.get(agr=agr_a).last_time_stamp < now()
    assert agr_apply(agr_a, "2024-02-01").accepted


def test_the_tolerance_is_a_setting(dso1, settings):
    assert dso_apply(dso1, C1, time_stamp=now() + dt.timedelta(hours=1)).accepted
    settings.CRO_MAX_TIMESTAMP_AHEAD_SECONDS = 60
    outcome = dso_apply(dso1, C2, time_stamp=now() + dt.timedelta(hours=2))
    assert not outcome.accepted and "more than 60 seconds ahead" in outcome.rejection_reason


@pytest.mark.parametrize("role", ["DSO", "AGR"])
def test_an_administrator_resets_a_locked_entity(dso1, agr_a, caplog, role):
    participant = dso1 if role == "DSO" else agr_a
    apply = (
        (lambda ts: dso_apply(dso1, C2, time_stamp=ts))
        if role == "DSO"
        else (lambda ts: agr_apply(agr_a, "2024-03-01", time_stamp=ts))
    )
    address = CP1 if role == "DSO" else C1
    assert apply(now() + dt.timedelta(hours=20)).accepted  # a clock 20 h fast: within the tolerance
    assert apply(None).rejection_reason.startswith("Subordinate sequence number")

    with caplog.at_level(logging.WARNING, logger="registry.audit"):
        call_command(
            "cro_time_stamp_reset",
            "--domain",
            participant.domain,
            "--role",
            role,
            "--entity-address",
            address,
        )

    assert apply(None).accepted
    assert any(
        record.name == "registry.audit"
        and address in record.getMessage()
        and "cro_time_stamp_reset" in record.getMessage()
        for record in caplog.records
    )


def test_resetting_an_unknown_entity_is_a_clear_error(dso1):
    with pytest.raises(CommandError, match="has no update recorded"):
        call_command(
            "cro_time_stamp_reset", "--domain", dso1.domain, "--role", "DSO", "--entity-address", CP1
        )


def test_an_administrator_resets_a_locked_entity_in_the_web_interface(client, make_role_user, dso1):
    """The web twin of the command: the reset lets the next update through and is in the audit trail."""
    from django.urls import reverse

    from registry.models import AuditEntry

    assert dso_apply(dso1, C2, time_stamp=now() + dt.timedelta(hours=20)).accepted
    assert dso_apply(dso1, C1).rejection_reason.startswith("Subordinate sequence number")
    client.force_login(make_role_user("administrator", username="admin", password="a-long-password-123"))
    url = reverse("web:participant-time-stamp-reset", kwargs={"pk": dso1.pk})

    unknown = client.post(url, {"entity_address": "ean.000000000099"}, follow=True)
    assert "has no update recorded" in unknown.content.decode()
    assert dso_apply(dso1, C1).rejection_reason.startswith("Subordinate sequence number")

    response = client.post(url, {"entity_address": CP1}, follow=True)

    assert (
        response.status_code == 200 and f"Last TimeStamp of {CP1} reset to now" in response.content.decode()
    )
    assert dso_apply(dso1, C1).accepted
    entry = AuditEntry.objects.get(action="entity_time_stamp_reset")
    assert entry.reason.startswith(f"{CP1}: last TimeStamp ") and entry.user.username == "admin"
