"""Schema-driven fuzzing: schemathesis generates requests from our own OpenAPI schema (valid and
invalid ones) and checks every answer: no server error, status codes, content types, headers and
bodies as documented, valid input accepted, invalid input refused, auth not ignored.

Every operation is run, every built-in check is on. Runs as an administrator, so writes happen
(participants get created, barred, rotated; TestMessages get queued: the delivery is dispatched
on commit, and the test's transaction never commits).
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.specs.openapi.checks import positive_data_acceptance

from registry.api.filters import MAX_ID
from registry.models import (
    CongestionPointVersion,
    CsvImport,
    Membership,
    Message,
    Participant,
    Representation,
)
from registry.services.csv_io import csv_import_preview
from registry.services.participants import participant_key_rotate
from registry.uftp import keys
from tests.api.conftest import make_message

# Examples per operation: 25 keeps a developer's `bin/test` short (the fuzz test was its largest
# cost); CI (.ci/run) asks 50, and CRO_FUZZ_EXAMPLES=500 digs deeper.
MAX_EXAMPLES = int(os.environ.get("CRO_FUZZ_EXAMPLES", "25"))


def _existing_ids(registry) -> dict[str, list[int]]:
    """Ids of real objects per path (longest prefix wins), so that detail routes and actions are
    run on objects they can succeed on, not only answered with their 404."""
    participants = Participant.objects.values_list("pk", flat=True)
    return {
        "/api/participants/": list(participants),
        "/api/participants/{id}/complete-key-rotation/": list(participants.exclude(public_key_previous="")),
        "/api/congestion-points/": [registry.cp1.pk, registry.cp2.pk],
        "/api/agr-portfolios/": [registry.agr_a.pk, registry.agr_b.pk],
        "/api/history/congestion-points/": list(CongestionPointVersion.objects.values_list("pk", flat=True)),
        "/api/history/memberships/": list(Membership.objects.values_list("pk", flat=True)),
        "/api/history/representations/": list(Representation.objects.values_list("pk", flat=True)),
        "/api/messages/": list(Message.objects.values_list("pk", flat=True)),
        "/api/messages/{id}/retry/": list(
            Message.objects.filter(status="failed").values_list("pk", flat=True)
        ),
        "/api/csv-imports/": list(CsvImport.objects.values_list("pk", flat=True)),
    }


@pytest.fixture
def admin_headers(users) -> dict[str, str]:
    token, _ = Token.objects.get_or_create(user=users.admin)
    return {"Authorization": f"Token {token.key}"}


# Ids of real objects, filled per test by the `fuzz_registry` fixture, read by the hook below.
EXISTING_IDS: dict[str, list[int]] = {}


def _generated_schema() -> dict:
    """The schema /api/schema/ serves (test_schema.py checks that the two are the same)."""
    return SchemaGenerator().get_schema(request=None, public=True)


schema = schemathesis.openapi.from_dict(_generated_schema())
schema.app = WSGIHandler()


def _aim_at_existing_object(case) -> None:
    """Send two thirds of the requests with a valid id to an existing object (in every phase, also
    the coverage phase's fixed ids), the others to whatever id was generated (mostly a 404).

    Only a schema-valid id is replaced, by another valid one: whether the case is valid or not (what
    the checks judge it by) does not change."""
    value = (case.path_parameters or {}).get("id")
    prefix = max((p for p in EXISTING_IDS if case.operation.path.startswith(p)), key=len, default=None)
    if not isinstance(value, int) or not 1 <= value <= MAX_ID or prefix is None or not EXISTING_IDS[prefix]:
        return
    if value % 3:
        existing = EXISTING_IDS[prefix]
        case.path_parameters["id"] = existing[value % len(existing)]


# Operations a generated request cannot succeed on: an upload must be a real portfolio CSV, which
# no schema can describe (tests/api/test_csv_imports.py uploads good ones). Their schema-valid
# requests may be refused, so the "valid data is accepted" check is off for them.
NO_GENERATED_SUCCESS = {"POST /api/csv-imports/"}

# (method, status) of every answer, per operation, to show that the fuzzing got past the refusals.
SEEN: dict[str, set[tuple[str, int]]] = {}


@schema.hook
def after_call(context, case, response):
    SEEN.setdefault(case.operation.label, set()).add((case.method.upper(), response.status_code))


@pytest.fixture
def fuzz_registry(request, registry, make_participant):
    # The WSGI handler closes "old" connections around each request, which would close the
    # test's transaction; Django's test client switches that off the same way.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        for _ in range(3):
            make_message(
                registry.dso1, direction="out", status="failed", message_type="DSOPortfolioUpdateResponse"
            )
        make_message(registry.agr_a, direction="in", status="processed")
        csv_import_preview(
            dso=registry.dso1,
            data=b"congestion_point,cp_start,cp_end,mutex_offers_supported,day_ahead_redispatch_by,"
            b"intraday_redispatch_by,connection,connection_start,connection_end\n"
            b"ean.000000000077,2024-01-01,,true,DSO,AGR,ean.100000000777,2024-01-01,\n",
        )
        for n in range(3):
            rotating, _ = make_participant(f"agr-rotating-{n}.example.com", "AGR")
            participant_key_rotate(participant=rotating, new_public_key=keys.generate_keypair()[1])
        SEEN.clear()
        EXISTING_IDS.clear()
        EXISTING_IDS.update(_existing_ids(registry))
        yield registry
        # Every operation answered a generated request with success at least once.
        label = request.node.name.partition("[")[2].rstrip("]")
        method = label.split(" ")[0]
        statuses = {status for seen_method, status in SEEN.get(label, ()) if seen_method == method}
        assert label in NO_GENERATED_SUCCESS or any(200 <= status < 300 for status in statuses), (
            f"{label}: no success among {sorted(statuses)}"
        )
    finally:
        EXISTING_IDS.clear()
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_api_answers_as_its_schema_says(case, fuzz_registry, admin_headers):
    _aim_at_existing_object(case)
    excluded = [positive_data_acceptance] if case.operation.label in NO_GENERATED_SUCCESS else []
    case.call_and_validate(headers=admin_headers, excluded_checks=excluded)
