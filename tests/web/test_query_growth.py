"""The number of SQL queries of a page does not depend on the size of the registry or the log."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from registry.models import CongestionPoint, Membership
from tests.web import builders


@pytest.mark.parametrize("name", ["registry", "agr-portfolio", "messages", "congestion-point"])
def test_query_count_does_not_grow_with_the_registry(staff_client, make_participant, name):
    """A page on a tiny registry and on one with 10,000 more connections: the same number of queries."""
    dso, _ = make_participant("dso-big.example.com", "DSO")
    agr, _ = make_participant("agr-big.example.com", "AGR")
    builders.bulk_registry(dso=dso, agr=agr, congestion_points=1, connections_per_cp=2)
    builders.bulk_messages(participant=dso, count=2, failed=1)
    cp = CongestionPoint.objects.get()
    url = {
        "registry": reverse("web:registry") + f"?agr={agr.pk}",
        "agr-portfolio": reverse("web:agr-portfolio") + f"?agr={agr.pk}&day=2025-01-01",
        "messages": reverse("web:message-list"),
        "congestion-point": reverse("web:congestion-point-detail", kwargs={"pk": cp.pk}),
    }[name]
    with CaptureQueriesContext(connection) as small:
        assert staff_client.get(url).status_code == 200
    builders.bulk_registry(
        dso=dso, agr=agr, congestion_points=100, connections_per_cp=100, cp_prefix="7", connection_prefix="6"
    )
    builders.bulk_messages(participant=dso, count=300, failed=50)
    Membership.objects.bulk_create(
        [
            Membership(
                congestion_point=cp,
                connection_address=f"ean.5{index:011d}",
                start_period="2024-01-01",
                recorded_at=cp.created_at,
            )
            for index in range(500)
        ]
    )
    with CaptureQueriesContext(connection) as large:
        assert staff_client.get(url).status_code == 200
    assert len(large.captured_queries) == len(small.captured_queries)
