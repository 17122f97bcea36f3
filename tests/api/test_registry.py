"""Congestion points, AGR portfolios and registry history: the worked example of cro-rules §8,
recorded at T0 and changed at T1 (see conftest), read on day D as known at time T."""

import pytest

from tests.api.conftest import (
    AGR_A,
    AGR_B,
    C1,
    C2,
    C3,
    C4,
    C9,
    CP1,
    CP2,
    DSO1,
    DSO2,
)

CPS = "/api/congestion-points/"
AGRS = "/api/agr-portfolios/"
BEFORE_T1 = "2024-02-01T00:00:00Z"


def cps(client, **params) -> dict[str, list[str]]:
    """{CP address: [its connections]} of one page."""
    response = client.get(CPS, params)
    assert response.status_code == 200, response.json()
    return {
        row["entity_address"]: [c["entity_address"] for c in row["connections"]]
        for row in response.json()["results"]
    }


def portfolios(client, **params) -> dict[str, list[str]]:
    """{AGR: [its connections]}: the list of AGRs, then each one's connection pages (2 a page)."""
    response = client.get(AGRS, params)
    assert response.status_code == 200, response.json()
    found = {}
    for row in response.json()["results"]:
        connections, url = [], row["connections"] + ("&" if "?" in row["connections"] else "?") + "limit=2"
        while url:
            page = client.get(url).json()
            connections += [c["entity_address"] for c in page["results"]]
            url = page["next"]
        found[row["agr"]] = connections
    return found


# ------------------------------------------------------------------------------ congestion points
def test_congestion_point_fields(registry, staff_client):
    response = staff_client.get(CPS)
    row = response.json()["results"][0]
    assert row == {
        "id": registry.cp1.pk,
        "entity_address": CP1,
        "dso": DSO1,
        "dso_id": registry.dso1.pk,
        "start_period": "2024-01-01",
        "end_period": None,
        # Version 2 (recorded at T1) is the current one.
        "mutex_offers_supported": False,
        "day_ahead_redispatch_by": "DSO",
        "intraday_redispatch_by": "AGR",
        "recorded_at": "2024-08-01T00:00:00Z",
        "connections": [
            {
                "entity_address": C1,
                "start_period": "2024-01-01",
                "end_period": None,
                "recorded_at": "2024-01-01T00:00:00Z",
            },
            {
                "entity_address": C3,
                "start_period": "2024-07-01",
                "end_period": None,
                "recorded_at": "2024-01-01T00:00:00Z",
            },
        ],
    }
    second = response.json()["results"][1]
    assert (second["entity_address"], second["end_period"], second["intraday_redispatch_by"]) == (
        CP2,
        "2024-12-31",
        None,
    )


def test_congestion_points_now_and_as_known_before_the_change(registry, staff_client):
    assert cps(staff_client) == {CP1: [C1, C3], CP2: [C4]}
    assert cps(staff_client, as_of=BEFORE_T1) == {CP1: [C1, C2, C3], CP2: [C4]}
    before = staff_client.get(CPS, {"as_of": BEFORE_T1, "entity_address": CP1}).json()["results"][0]
    assert before["mutex_offers_supported"] is True
    assert before["recorded_at"] == "2024-01-01T00:00:00Z"
    # Nothing was known before T0.
    assert cps(staff_client, as_of="2023-12-31T23:59:59Z") == {}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"active_on": "2024-06-15"}, {CP1: [C1], CP2: [C4]}),
        ({"active_on": "2024-06-15", "as_of": BEFORE_T1}, {CP1: [C1, C2], CP2: [C4]}),
        ({"active_on": "2024-07-15"}, {CP1: [C1, C3], CP2: [C4]}),
        ({"active_on": "2025-01-10"}, {CP1: [C1, C3]}),
        ({"active_on": "2023-12-31"}, {}),
        ({"dso": DSO2}, {CP2: [C4]}),
        ({"entity_address": CP1}, {CP1: [C1, C3]}),
        ({"connection": C3}, {CP1: [C1, C3]}),
        ({"connection": C9}, {}),
        ({"connection": C2}, {}),
        ({"connection": C2, "as_of": BEFORE_T1}, {CP1: [C1, C2, C3]}),
        # The DSO-View of AGR A's AGRPortfolioQuery (cro-rules §8, as known before the change).
        ({"agr": AGR_A, "active_on": "2024-06-15", "as_of": BEFORE_T1}, {CP1: [C1, C2], CP2: [C4]}),
        ({"agr": AGR_A, "active_on": "2024-07-15"}, {CP1: [C1], CP2: [C4]}),
        ({"agr": AGR_B, "active_on": "2024-06-15"}, {}),
        ({"agr": AGR_B}, {CP1: [C3]}),
        ({"agr": "nobody.example.com"}, {}),
        ({"created_after": "2999-01-01T00:00:00Z"}, {}),
    ],
)
def test_congestion_point_filters(registry, staff_client, params, expected):
    assert cps(staff_client, **params) == expected


def test_congestion_point_detail_follows_the_time_parameters(registry, staff_client):
    url = f"{CPS}{registry.cp2.pk}/"
    assert staff_client.get(url).json()["connections"][0]["entity_address"] == C4
    assert staff_client.get(url, {"active_on": "2025-01-10"}).status_code == 404
    assert staff_client.get(url, {"as_of": "2023-01-01T00:00:00Z"}).status_code == 404
    assert staff_client.get(url, {"active_on": "not-a-day"}).status_code == 400


@pytest.mark.parametrize("query", ["active_on=2024-13-01", "as_of=noon", "as_of=", "active_on="])
def test_malformed_time_parameters_are_refused(registry, staff_client, query):
    response = staff_client.get(f"{CPS}?{query}")
    assert response.status_code == 400
    assert query.split("=")[0] in response.json()


def test_extreme_moments_are_clamped_not_crashed(registry, staff_client):
    assert cps(staff_client, as_of="0001-01-01T00:00:00+23:59") == {}
    assert cps(staff_client, as_of="9999-12-31T23:59:59-23:59") == {CP1: [C1, C3], CP2: [C4]}


def test_congestion_point_pagination(registry, staff_client):
    first = staff_client.get(CPS, {"limit": 1}).json()
    assert (first["count"], len(first["results"]), first["results"][0]["entity_address"]) == (2, 1, CP1)
    second = staff_client.get(CPS, {"limit": 1, "offset": 1}).json()
    assert second["results"][0]["entity_address"] == CP2
    assert second["next"] is None


# ------------------------------------------------------------------------------ AGR portfolios
def test_agr_portfolio_fields(registry, staff_client):
    row = staff_client.get(f"{AGRS}{registry.agr_b.pk}/").json()
    connections_url = f"http://testserver{AGRS}{registry.agr_b.pk}/connections/"
    assert row == {"id": registry.agr_b.pk, "agr": AGR_B, "status": "active", "connections": connections_url}
    assert staff_client.get(row["connections"]).json() == {
        "next": None,
        "previous": None,
        "results": [
            {
                "entity_address": C3,
                "start_period": "2024-07-01",
                "end_period": None,
                "recorded_at": "2024-01-01T00:00:00Z",
            }
        ],
    }
    # The list's links keep the state asked for.
    listed = staff_client.get(AGRS, {"active_on": "2024-07-01", "as_of": "2024-03-01T00:00:00Z"}).json()
    assert {row["connections"] for row in listed["results"]} >= {
        f"{connections_url}?as_of=2024-03-01T00%3A00%3A00Z&active_on=2024-07-01"
    }
    assert (
        staff_client.get(f"{AGRS}{registry.agr_b.pk}/connections/", {"active_on": "bad"}).status_code == 400
    )
    # A DSO has no AGR portfolio.
    assert staff_client.get(f"{AGRS}{registry.dso1.pk}/").status_code == 404


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, {AGR_A: [C1, C2, C4, C9], AGR_B: [C3]}),
        ({"active_on": "2024-03-01"}, {AGR_A: [C1, C2, C9]}),
        ({"active_on": "2024-07-15"}, {AGR_A: [C1, C2, C4, C9], AGR_B: [C3]}),
        ({"as_of": "2023-06-01T00:00:00Z"}, {}),
        ({"agr": AGR_B}, {AGR_B: [C3]}),
        ({"entity_address": C4}, {AGR_A: [C1, C2, C4, C9]}),
        ({"status": "barred"}, {AGR_B: [C3]}),
    ],
)
def test_agr_portfolio_filters(registry, staff_client, params, expected):
    registry.agr_b.status = "barred"
    registry.agr_b.save()
    assert portfolios(staff_client, **params) == expected


@pytest.mark.parametrize(
    ("period", "as_of", "dso_view", "unallocated"),
    [
        # The rows of cro-rules §8 (as known before T1, when C2 still was in CP1).
        ("2024-06-15", BEFORE_T1, {DSO1: {CP1: [C1, C2]}, DSO2: {CP2: [C4]}}, [C9]),
        ("2024-07-15", BEFORE_T1, {DSO1: {CP1: [C1]}, DSO2: {CP2: [C4]}}, [C2, C9]),
        ("2025-01-10", BEFORE_T1, {DSO1: {CP1: [C1]}}, [C2, C4, C9]),
        # Now, C2 has left CP1.
        ("2024-06-15", None, {DSO1: {CP1: [C1]}, DSO2: {CP2: [C4]}}, [C2, C9]),
    ],
)
def test_agr_portfolio_query_answer(registry, staff_client, period, as_of, dso_view, unallocated):
    params = {"period": period, **({"as_of": as_of} if as_of else {})}
    response = staff_client.get(f"{AGRS}{registry.agr_a.pk}/query-answer/", params)
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["agr"], body["period"], body["result"], body["rejection_reason"]) == (
        AGR_A,
        period,
        "Accepted",
        None,
    )
    assert {
        portfolio["dso"]: {cp["entity_address"]: cp["connections"] for cp in portfolio["congestion_points"]}
        for portfolio in body["dso_portfolios"]
    } == dso_view
    assert body["unallocated_connections"] == unallocated


def test_agr_portfolio_query_answer_attributes_and_rejection(registry, staff_client):
    url = f"{AGRS}{registry.agr_a.pk}/query-answer/"
    cp1 = staff_client.get(url, {"period": "2024-06-15", "as_of": BEFORE_T1}).json()["dso_portfolios"][0]
    assert cp1["congestion_points"][0] | {"connections": None} == {
        "entity_address": CP1,
        "mutex_offers_supported": True,
        "day_ahead_redispatch_by": "DSO",
        "intraday_redispatch_by": "AGR",
        "connections": None,
    }
    rejected = staff_client.get(f"{AGRS}{registry.agr_b.pk}/query-answer/", {"period": "2024-06-15"}).json()
    assert (rejected["result"], rejected["rejection_reason"]) == ("Rejected", "No connections available")
    assert rejected["dso_portfolios"] == []
    assert staff_client.get(url).status_code == 400  # period is required
    assert staff_client.get(url, {"period": "2024-06-15", "as_of": ""}).status_code == 400
    assert (
        staff_client.get(f"{AGRS}{registry.dso1.pk}/query-answer/", {"period": "2024-06-15"}).status_code
        == 404
    )


# ------------------------------------------------------------------------------ history
def history(client, table, **params) -> list[dict]:
    response = client.get(f"/api/history/{table}/", params)
    assert response.status_code == 200, response.json()
    return response.json()["results"]


def test_congestion_point_history_keeps_superseded_versions(registry, staff_client):
    rows = history(staff_client, "congestion-points", entity_address=CP1)
    assert [(row["mutex_offers_supported"], row["is_current"]) for row in rows] == [
        (True, False),
        (False, True),
    ]
    first = rows[0]
    assert first["superseded_at"] == "2024-08-01T00:00:00Z"
    assert (first["dso"], first["congestion_point"], first["recorded_by"], first["superseded_by"]) == (
        DSO1,
        registry.cp1.pk,
        None,
        None,
    )
    assert len(history(staff_client, "congestion-points")) == 3
    assert [row["entity_address"] for row in history(staff_client, "congestion-points", dso=DSO2)] == [CP2]
    assert len(history(staff_client, "congestion-points", current="false")) == 1
    assert len(history(staff_client, "congestion-points", as_of=BEFORE_T1)) == 2
    assert len(history(staff_client, "congestion-points", created_after="2024-08-01T00:00:00Z")) == 1


def test_membership_history(registry, staff_client):
    rows = history(staff_client, "memberships")
    assert sorted(row["entity_address"] for row in rows) == [C1, C2, C3, C4]
    c2 = next(row for row in rows if row["entity_address"] == C2)
    assert (c2["congestion_point_address"], c2["dso"], c2["is_current"], c2["end_period"]) == (
        CP1,
        DSO1,
        False,
        "2024-06-30",
    )
    assert [r["entity_address"] for r in history(staff_client, "memberships", current="false")] == [C2]
    assert len(history(staff_client, "memberships", current="true")) == 3
    assert [r["entity_address"] for r in history(staff_client, "memberships", dso=DSO2)] == [C4]
    assert len(history(staff_client, "memberships", congestion_point=CP1)) == 3
    assert [
        r["entity_address"]
        for r in history(staff_client, "memberships", active_on="2024-12-31", congestion_point=CP2)
    ] == [C4]
    assert [r["entity_address"] for r in history(staff_client, "memberships", entity_address=C3)] == [C3]
    assert history(staff_client, "memberships", created_before="2024-01-01T00:00:00Z") == []
    assert staff_client.get("/api/history/memberships/", {"current": "maybe"}).status_code == 400
    detail = staff_client.get(f"/api/history/memberships/{registry.c2_membership.pk}/").json()
    assert detail["entity_address"] == C2


def test_representation_history(registry, staff_client):
    rows = history(staff_client, "representations", agr=AGR_A)
    assert sorted(row["entity_address"] for row in rows) == [C1, C2, C4, C9]
    assert {row["agr"] for row in rows} == {AGR_A}
    assert [r["agr"] for r in history(staff_client, "representations", entity_address=C3)] == [AGR_B]
    assert len(history(staff_client, "representations", active_on="2024-03-01")) == 3


def test_history_is_in_the_order_recorded(registry, staff_client):
    """By primary key: the order rows were written in, an index walk whatever the history holds
    (ordering by recorded_at would sort every row ever recorded for each page)."""
    rows = history(staff_client, "memberships")
    assert [row["id"] for row in rows] == sorted(row["id"] for row in rows)
    assert [row["recorded_at"] for row in rows] == sorted(row["recorded_at"] for row in rows)
