"""The receive path: one INSERT for a known sender, its keys cached, a rotation picked up at once."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from registry.models import Message, Participant
from registry.services import participant_keys
from registry.uftp import keys
from tests import factories
from tests.endpoint.support import wsgi_call, wsgi_environ

URL = "/shapeshifter/api/v3/message"
DSO = "dso1.example.com"


@pytest.fixture(autouse=True)
def _empty_cache():
    participant_keys.forget_all()
    yield
    participant_keys.forget_all()


def post(private_key: str) -> int:
    body = factories.signed(factories.test_message(sender=DSO), role="DSO", private_key=private_key)
    return Client().post(URL, data=body, content_type="text/xml").status_code


@pytest.mark.django_db(transaction=True)
def test_a_known_sender_costs_one_statement(make_participant):
    _, private_key = make_participant(DSO, "DSO")
    assert post(private_key) == 200
    with CaptureQueriesContext(connection) as queries:
        assert post(private_key) == 200
    statements = [q["sql"].split()[0] for q in queries.captured_queries]
    assert statements == ["INSERT"], queries.captured_queries
    assert Message.objects.filter(direction="in").count() == 2


def test_a_key_rotated_by_another_process_is_picked_up_at_once(make_participant):
    participant, old_key = make_participant(DSO, "DSO")
    assert post(old_key) == 200  # the keys are cached now
    new_private, new_public = keys.generate_keypair()
    # Another process rotates: this process's cache is not told.
    Participant.objects.filter(pk=participant.pk).update(public_key=new_public)
    assert post(new_private) == 200
    assert post(keys.generate_keypair()[0]) == 401  # a wrong key is still refused


def test_a_saved_participant_is_forgotten(make_participant):
    participant, private_key = make_participant(DSO, "DSO")
    assert post(private_key) == 200
    assert participant_keys.is_cached(domain=DSO, role="DSO")
    participant.save()
    assert not participant_keys.is_cached(domain=DSO, role="DSO")


@pytest.mark.django_db(transaction=True)
def test_a_participant_replaced_by_another_process_is_read_again(make_participant):
    """Deleted and registered again (same key, new row) elsewhere: the cached row is stale."""
    participant, private_key = make_participant(DSO, "DSO")
    assert post(private_key) == 200
    stale = participant_keys._read[(DSO, "DSO")]
    Message.objects.all().delete()
    participant.delete()
    again = Participant.objects.create(
        domain=DSO, role="DSO", public_key=participant.public_key, endpoint_url=participant.endpoint_url
    )
    participant_keys._read[(DSO, "DSO")] = stale  # as in a process no signal reached
    assert post(private_key) == 200
    assert Message.objects.get(direction="in").participant_id == again.pk


@pytest.mark.django_db(transaction=True)
def test_a_known_sender_costs_no_connection_health_check(make_participant, monkeypatch):
    """Django would send a SELECT 1 on a reused connection first (CONN_HEALTH_CHECKS); the
    INSERT is the check here (one round trip per message, not two)."""
    _, private_key = make_participant(DSO, "DSO")
    assert post(private_key) == 200
    if not connection.settings_dict["CONN_HEALTH_CHECKS"]:
        pytest.skip("the database has no health checks configured")
    checks = []
    monkeypatch.setattr(connection, "is_usable", lambda: checks.append(1) or True)
    connection.health_check_done = False  # a new request on a reused connection
    assert post(private_key) == 200
    assert checks == []
    assert Message.objects.filter(direction="in").count() == 2


@pytest.mark.postgres  # a database server that restarts; SQLite has none (a closed file stays closed)
@pytest.mark.django_db(transaction=True)
def test_a_dead_database_connection_is_replaced_and_the_message_stored_once(make_participant):
    """The database restarted under a persistent connection: the INSERT finds it dead, a new
    connection stores the message, and the sender is answered 200, not 500."""
    _, private_key = make_participant(DSO, "DSO")
    assert post(private_key) == 200
    connection.ensure_connection()
    connection.connection.close()  # behind Django's back, as a restarted server does
    connection.health_check_done = False
    assert post(private_key) == 200
    assert Message.objects.filter(direction="in").count() == 2


def _wsgi(method: str, path: str, body: bytes = b"", host: str = "testserver") -> tuple[str, dict]:
    from cro.wsgi import application

    environ = wsgi_environ(
        body, REQUEST_METHOD=method, PATH_INFO=path, HTTP_HOST=host, CONTENT_TYPE="text/xml"
    )
    status, headers, _ = wsgi_call(application, environ)
    return status, headers


@pytest.mark.django_db(transaction=True)
def test_a_uftp_post_skips_the_pages_middleware_and_keeps_the_security_headers(make_participant, settings):
    """cro/wsgi.py: a UFTP POST goes through the security, common and CSP middleware only."""
    _, private_key = make_participant(DSO, "DSO")
    body = factories.signed(factories.test_message(sender=DSO), role="DSO", private_key=private_key)
    status, headers = _wsgi("POST", URL, body)
    assert status.startswith("200")
    assert "Content-Security-Policy" in headers and "X-Content-Type-Options" in headers
    assert "X-Frame-Options" not in headers  # the pages' middleware was skipped
    # A page still has all of it, and an unknown Host is refused on the lean path too.
    assert "X-Frame-Options" in _wsgi("GET", "/health/live")[1]
    settings.ALLOWED_HOSTS = ["testserver"]
    assert _wsgi("POST", URL, body, host="evil.example.org")[0].startswith("400")


@pytest.mark.django_db(transaction=True)
def test_the_stored_row_is_the_one_the_orm_would_write(make_participant):
    """The INSERT is written out by hand (services/inbound._message_insert): every column is in
    it, the ones the receipt does not set hold the model's defaults, and the returned instance
    is the row as stored."""
    from django.db.models import Model

    from registry.services.inbound import message_receive

    participant, private_key = make_participant(DSO, "DSO")
    body = factories.signed(factories.test_message(sender=DSO), role="DSO", private_key=private_key)
    returned = message_receive(
        data=body, content_type="text/xml", charset=None, path_major=3, client_address="127.0.0.1"
    )
    stored = Message.objects.get(pk=returned.pk)
    assert isinstance(returned, Model) and not returned._state.adding
    for field in Message._meta.concrete_fields:
        assert getattr(returned, field.attname) == getattr(stored, field.attname), field.name
    receipt = {
        "id", "direction", "status", "message_type", "version", "path_major", "sender_domain",
        "sender_role", "recipient_domain", "recipient_role", "participant_id", "message_id",
        "conversation_id", "reference_message_id", "time_stamp", "signed_xml", "inner_xml",
        "body_digest", "created_at", "updated_at",
    }  # fmt: skip
    for field in Message._meta.concrete_fields:
        if field.attname not in receipt:
            assert getattr(stored, field.attname) == field.get_default(), field.name
    assert (stored.direction, stored.status, stored.participant_id) == ("in", "received", participant.pk)
    assert (stored.sender_domain, stored.sender_role, stored.recipient_role, stored.path_major) == (
        DSO, "DSO", "CRO", 3
    )  # fmt: skip
    assert stored.signed_xml.encode() == body and stored.inner_xml and len(stored.body_digest) == 64
    assert stored.message_type and stored.message_id and stored.time_stamp is not None
    assert stored.created_at is not None and stored.updated_at >= stored.created_at


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_insert_is_prepared_on_the_server_after_a_few_messages(make_participant):
    """psycopg prepares a statement bound on the server after prepare_threshold executions; from
    then on a message costs the server no parsing or planning of the INSERT."""
    _, private_key = make_participant(DSO, "DSO")
    for _ in range(8):
        assert post(private_key) == 200
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert any(statement.startswith('INSERT INTO "registry_message"') for statement in prepared), prepared


def test_a_callable_default_is_refused_by_the_prebuilt_insert(monkeypatch):
    """The receipt's INSERT takes the model's defaults once per process: a callable default
    (a new value per row) would be frozen, so building the statement refuses it."""
    from registry.services import inbound

    inbound._message_insert_statement.cache_clear()
    monkeypatch.setattr(Message._meta.get_field("conversation_id"), "default", lambda: "per-row")
    try:
        with pytest.raises(TypeError, match="conversation_id"):
            inbound._message_insert_statement()
    finally:
        inbound._message_insert_statement.cache_clear()


def test_the_wsgi_module_loads_the_url_configuration_before_the_first_request():
    """cro/wsgi.py warms up at boot: the URL configuration (the API and the pages, with their
    libraries) is imported when gunicorn loads the application, not by a peer's first POST."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    probe = (
        "import sys, cro.wsgi\n"
        "from django.urls import get_resolver\n"
        "print(all(name in sys.modules for name in ('cro.urls', 'registry.api.urls', 'rest_framework.serializers')))\n"
        "print('url_patterns' in get_resolver().__dict__)\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True"]
