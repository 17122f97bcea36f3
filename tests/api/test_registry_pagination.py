"""The registry lists, whose items carry their connections, answer a small page by default (issue 10)."""

import datetime as dt

import pytest

from registry.api.pagination import RegistryPagination
from registry.models import CongestionPoint, CongestionPointVersion

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def many_congestion_points(make_participant):
    dso = make_participant("page-dso.example.com", "DSO")[0]
    cps = CongestionPoint.objects.bulk_create(
        CongestionPoint(entity_address=f"ean.9{n:011d}", dso=dso)
        for n in range(RegistryPagination.default_limit + 3)
    )
    CongestionPointVersion.objects.bulk_create(
        CongestionPointVersion(
            congestion_point=cp,
            start_period=dt.date(2024, 1, 1),
            day_ahead_redispatch_by="DSO",
            mutex_offers_supported=True,
            recorded_at=T0,
        )
        for cp in cps
    )
    return cps


def test_the_congestion_point_list_answers_ten_by_default(staff_client, many_congestion_points):
    page = staff_client.get("/api/congestion-points/").json()

    assert page["count"] == len(many_congestion_points)
    assert len(page["results"]) == RegistryPagination.default_limit == 10
    assert "offset=10" in page["next"]
