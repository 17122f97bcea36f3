"""Every list page answers in a bounded number of SQL queries on a registry of 10,000 connections
(and a message log of a few hundred messages): the same small number as on an empty registry."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.urls import reverse

from registry.models import CongestionPoint, CsvImport, Membership, Message, Participant
from registry.uftp import keys
from tests.web import builders

# Session and user (2) + the user's and its groups' permissions for the role checks (2) + the
# page's own reads. Generous enough to survive small changes, far below one query per row.
MAX_QUERIES = 14
# The dashboard also reads the heartbeats and the late messages of its health banner (tests/ops)
# and the inbound messages given up on (poison messages).
EXTRA_QUERIES = {"dashboard": 2}


@pytest.fixture(scope="module")
def big(django_db_setup, django_db_blocker):
    """Built once for the module inside a transaction that is rolled back at its end; each test
    runs in a savepoint of it (pytest-django's db fixture), so nothing leaks to other tests."""
    with django_db_blocker.unblock(), transaction.atomic():
        dso = Participant.objects.create(
            domain="dso-big.example.com",
            role="DSO",
            public_key=keys.generate_keypair()[1],
            endpoint_url="http://x.test/",
        )
        agr = Participant.objects.create(
            domain="agr-big.example.com",
            role="AGR",
            public_key=keys.generate_keypair()[1],
            endpoint_url="http://x.test/",
        )
        builders.bulk_registry(dso=dso, agr=agr, congestion_points=200, connections_per_cp=50)
        builders.bulk_messages(participant=dso, count=400, failed=60)
        CsvImport.objects.bulk_create(
            [CsvImport(dso=dso, csv_text="x", file_name=f"f{i}.csv") for i in range(30)]
        )
        assert Membership.objects.current().count() == 10_000
        if connection.vendor == "postgresql":
            # As autovacuum would: without statistics the planner picks plans for empty tables.
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        yield {"dso": dso, "agr": agr, "cp": CongestionPoint.objects.order_by("pk").first()}
        transaction.set_rollback(True)


def pages(big) -> dict[str, str]:
    dso, agr, cp = big["dso"], big["agr"], big["cp"]
    conversation = Message.objects.order_by("pk").first().conversation_id
    job = CsvImport.objects.order_by("pk").first()
    return {
        "dashboard": reverse("web:dashboard"),
        "participants": reverse("web:participant-list"),
        "participant": reverse("web:participant-detail", kwargs={"pk": dso.pk}),
        "registry": reverse("web:registry"),
        "registry-filtered": reverse("web:registry") + f"?dso={dso.pk}&agr={agr.pk}&day=2025-01-01&page=3",
        "registry-search": reverse("web:registry") + "?q=ean.8000",
        "congestion-point": reverse("web:congestion-point-detail", kwargs={"pk": cp.pk}),
        "agr-portfolio": reverse("web:agr-portfolio") + f"?agr={agr.pk}&day=2025-01-01&page=50",
        "history": reverse("web:entity-history") + f"?address={cp.entity_address}",
        "messages": reverse("web:message-list"),
        "messages-filtered": reverse("web:message-list")
        + f"?participant={dso.pk}&direction=out&status=failed",
        "conversation": reverse("web:conversation", kwargs={"conversation_id": conversation}),
        "failed": reverse("web:failed-deliveries"),
        "import": reverse("web:import"),
        "import-detail": reverse("web:import-detail", kwargs={"pk": job.pk}),
    }


PAGE_NAMES = [
    "dashboard",
    "participants",
    "participant",
    "registry",
    "registry-filtered",
    "registry-search",
    "congestion-point",
    "agr-portfolio",
    "history",
    "messages",
    "messages-filtered",
    "conversation",
    "failed",
    "import",
    "import-detail",
]


@pytest.mark.parametrize("name", PAGE_NAMES)
def test_list_page_queries_are_bounded(big, staff_client, name, django_assert_max_num_queries):
    url = pages(big)[name]
    with django_assert_max_num_queries(MAX_QUERIES + EXTRA_QUERIES.get(name, 0)):
        response = staff_client.get(url)
    assert response.status_code == 200


def test_registry_page_shows_a_bounded_page(big, staff_client):
    response = staff_client.get(reverse("web:registry"))
    table = response.context["table"]
    page = response.context["records"]
    assert table.page.paginator.count == 200 and len(page) == 25
    # 10 connections per CP on the list; the CP's own page lists them all.
    assert all(cp.connection_count == 50 and len(cp.state_memberships) == 10 for cp in page)
    assert all(cp.connections_not_shown == 40 for cp in page)
    assert all(m.representation_list[0].agr == big["agr"] for cp in page for m in cp.state_memberships)
