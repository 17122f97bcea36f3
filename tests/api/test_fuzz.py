"""Schema-driven fuzzing: schemathesis generates requests from our own OpenAPI schema (valid and
invalid ones) and checks every answer: no server error, status codes, content types, headers and
bodies as documented, valid input accepted, invalid input refused, auth not ignored.

Every operation is run, every built-in check is on. Runs as an administrator, so writes happen
(participants get created, barred, rotated; TestMessages get queued: the delivery is dispatched
on commit, and the test's transaction never commits).
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token

from registry.models import CongestionPoint, CongestionPointVersion, Membership, Message, Participant, Representation
from tests.api.conftest import make_message

# Examples per operation (21 operations); with the explicit/coverage phases this runs in ~1-2 min.
MAX_EXAMPLES = 25


def _existing_ids(registry) -> dict[str, list[int]]:
    """Ids of real objects per path prefix, so that detail routes are hit, not only their 404."""
    return {
        "/api/participants/": list(Participant.objects.values_list("pk", flat=True)),
        "/api/congestion-points/": [registry.cp1.pk, registry.cp2.pk],
        "/api/agr-portfolios/": [registry.agr_a.pk, registry.agr_b.pk],
        "/api/history/congestion-points/": list(CongestionPointVersion.objects.values_list("pk", flat=True)),
        "/api/history/memberships/": list(Membership.objects.values_list("pk", flat=True)),
        "/api/history/representations/": list(Representation.objects.values_list("pk", flat=True)),
        "/api/messages/": list(Message.objects.values_list("pk", flat=True)),
    }


@pytest.fixture
def admin_headers(users) -> dict[str, str]:
    token, _ = Token.objects.get_or_create(user=users.admin)
    return {"Authorization": f"Token {token.key}"}


@pytest.fixture
def api_schema(registry, admin_headers):
    # The WSGI handler closes "old" connections around each request, which would close the
    # test's transaction; Django's test client switches that off the same way.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        assert CongestionPoint.objects.count() == 2
        make_message(registry.dso1, direction="out", status="failed", message_type="DSOPortfolioUpdateResponse")
        make_message(registry.agr_a, direction="in", status="processed")
        loaded = schemathesis.openapi.from_wsgi("/api/schema/?format=json", WSGIHandler(), headers=admin_headers)
        ids = _existing_ids(registry)

        @loaded.hook
        def flatmap_path_parameters(context, path_parameters):
            value = path_parameters.get("id")
            prefix = next((p for p in ids if context.operation.path.startswith(p)), None)
            if not isinstance(value, int) or prefix is None or not ids[prefix]:
                return st.just(path_parameters)
            # Half of the cases on an existing object, the others on whatever id was generated.
            return st.one_of(
                st.just(path_parameters),
                st.sampled_from(ids[prefix]).map(lambda pk: {**path_parameters, "id": pk}),
            )

        yield loaded
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_api_answers_as_its_schema_says(case, admin_headers):
    case.call_and_validate(headers=admin_headers)
