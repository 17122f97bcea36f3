"""The lean WSGI handler of a UFTP POST (registry.views.endpoint_wsgi) answers as Django does.

Every request goes to cro.wsgi.application (what gunicorn serves) and, with a body of its own, to
the Django handler a UFTP POST had before (cro.wsgi._uftp): status, headers and body must match,
and the ordinary ones must have taken the lean path. What the lean path hands to Django (a Host
not allowed, plain HTTP where HTTPS is required, another path) is answered by Django.
"""

from __future__ import annotations

import logging

import pytest
from django.core import signals

import cro.wsgi
from registry.models import Message, RefusalCount
from registry.uftp import keys
from registry.views import endpoint_wsgi
from tests import factories
from tests.endpoint.support import wsgi_call as call
from tests.endpoint.support import wsgi_environ as environ_for

URL = "/shapeshifter/api/v3/message"
DSO = "dso1.example.com"


@pytest.fixture
def lean_calls(monkeypatch):
    """The requests cro.wsgi handed to the lean handler."""
    taken = []
    real = cro.wsgi.uftp_wsgi

    def spy(environ, start_response):
        taken.append(environ["PATH_INFO"])
        return real(environ, start_response)

    monkeypatch.setattr(cro.wsgi, "uftp_wsgi", spy)
    return taken


@pytest.fixture
def dso_key(make_participant):
    return make_participant(DSO, "DSO")[1]


def signed(private_key: str, sender: str = DSO) -> bytes:
    return factories.signed(factories.test_message(sender=sender), role="DSO", private_key=private_key)


def both(make_body, **overrides) -> tuple[tuple, tuple]:
    """(lean answer, Django answer) to the same request, each with a body of its own."""
    lean = call(cro.wsgi.application, environ_for(make_body(), **overrides))
    django = call(cro.wsgi._uftp, environ_for(make_body(), **overrides))
    return lean, django


CASES = {
    "accepted": (lambda key: signed(key), {}, "200"),
    "wrong content type": (lambda key: signed(key), {"CONTENT_TYPE": "application/json"}, "400"),
    "content type without charset": (lambda key: signed(key), {"CONTENT_TYPE": "application/xml"}, "200"),
    "charset not UTF-8": (lambda key: signed(key), {"CONTENT_TYPE": "text/xml; charset=latin-1"}, "400"),
    "empty Content-Length": (lambda key: signed(key), {"CONTENT_LENGTH": ""}, "411"),
    "Content-Length not a number": (lambda key: signed(key), {"CONTENT_LENGTH": "12a"}, "400"),
    "Content-Length negative": (lambda key: signed(key), {"CONTENT_LENGTH": "-5"}, "400"),
    "too large": (lambda key: signed(key), {"CONTENT_LENGTH": str(50 * 1024 * 1024)}, "413"),
    "body shorter than announced": (lambda key: signed(key)[:-40], {"CONTENT_LENGTH": "100000"}, "400"),
    "not XML": (lambda key: b"<SignedMessage", {"CONTENT_LENGTH": "14"}, "400"),
    "signature of another key": (lambda key: signed(keys.generate_keypair()[0]), {}, "401"),
    "unknown sender": (lambda key: signed(key, sender="dso9.example.com"), {}, "401"),
}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("case", list(CASES))
def test_the_lean_path_answers_as_django(case, dso_key, lean_calls):
    make_body, overrides, status = CASES[case]
    if "CONTENT_LENGTH" not in overrides:
        overrides = {**overrides, "CONTENT_LENGTH": None}  # set from each body below
    (lean, django) = (
        call(app, environ_for(body, **_length(overrides, body)))
        for app, body in ((cro.wsgi.application, make_body(dso_key)), (cro.wsgi._uftp, make_body(dso_key)))
    )
    assert lean_calls == [URL]
    assert lean[0].startswith(status), lean
    assert lean == django


def _length(overrides: dict, body: bytes) -> dict:
    if "CONTENT_LENGTH" in overrides and overrides["CONTENT_LENGTH"] is None:
        return {**overrides, "CONTENT_LENGTH": str(len(body))}
    return overrides


@pytest.mark.django_db(transaction=True)
def test_no_content_length_header_at_all(dso_key, lean_calls):
    """A request without the header (not an empty one): 411 on both paths."""
    environs = [environ_for(signed(dso_key)), environ_for(signed(dso_key))]
    for environ in environs:
        del environ["CONTENT_LENGTH"]
    lean, django = call(cro.wsgi.application, environs[0]), call(cro.wsgi._uftp, environs[1])
    assert lean[0].startswith("411") and lean == django
    assert lean_calls == [URL]


@pytest.mark.django_db(transaction=True)
def test_behind_a_tls_proxy_the_security_headers_match(dso_key, lean_calls, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 3600
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True
    settings.SECURE_CONTENT_TYPE_NOSNIFF = True
    cro.wsgi._uftp.load_middleware()  # its middleware read these settings when built
    try:
        lean, django = both(lambda: signed(dso_key), HTTP_X_FORWARDED_PROTO="https")
        refused_lean, refused_django = both(
            lambda: signed(dso_key), HTTP_X_FORWARDED_PROTO="https", CONTENT_TYPE="text/plain"
        )
        # Plain HTTP is redirected by Django, not taken by the lean path.
        redirected = call(cro.wsgi.application, environ_for(signed(dso_key)))
    finally:
        settings.SECURE_SSL_REDIRECT = False
        cro.wsgi._uftp.load_middleware()
    assert lean[0].startswith("200") and lean == django
    assert lean[1]["Strict-Transport-Security"] == "max-age=3600; includeSubDomains; preload"
    assert lean[1]["X-Content-Type-Options"] == "nosniff"
    assert refused_lean[0].startswith("400") and refused_lean == refused_django
    assert redirected[0].startswith("301") and redirected[1]["Location"] == f"https://testserver{URL}"
    assert lean_calls == [URL, URL]


@pytest.mark.django_db(transaction=True)
def test_what_the_lean_path_does_not_take_django_answers(dso_key, lean_calls, settings):
    settings.ALLOWED_HOSTS = ["testserver"]
    body = signed(dso_key)
    status, _, _ = call(cro.wsgi.application, environ_for(body, HTTP_HOST="evil.example.org"))
    assert status.startswith("400")  # DisallowedHost, from Django
    status, _, text = call(cro.wsgi.application, environ_for(body, PATH_INFO="/shapeshifter/api/v9/message"))
    assert status.startswith("400") and b"unsupported Shapeshifter version" in text
    status, _, _ = call(cro.wsgi.application, environ_for(body, HTTP_HOST=None))
    assert status.startswith("200")  # SERVER_NAME is the host: Django takes it, and accepts
    assert lean_calls == []
    assert call(cro.wsgi.application, environ_for(signed(dso_key)))[0].startswith("200")
    assert lean_calls == [URL]
    assert Message.objects.filter(direction="in").count() == 2


@pytest.mark.django_db(transaction=True)
def test_refusals_are_recorded_on_the_lean_path(dso_key, lean_calls):
    status, _, _ = call(cro.wsgi.application, environ_for(signed(keys.generate_keypair()[0])))
    assert status.startswith("401") and lean_calls == [URL]
    refused = RefusalCount.objects.get()
    assert (refused.status, refused.sender_domain, refused.sender_role, refused.count) == (401, DSO, "DSO", 1)
    assert not Message.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_request_signals_fire_once_each(dso_key, lean_calls):
    """They recycle the database connections (CONN_MAX_AGE) as on Django's path."""
    fired = []
    started = lambda **kwargs: fired.append("started")  # noqa: E731
    finished = lambda **kwargs: fired.append("finished")  # noqa: E731
    signals.request_started.connect(started)
    signals.request_finished.connect(finished)
    try:
        assert call(cro.wsgi.application, environ_for(signed(dso_key)))[0].startswith("200")
    finally:
        signals.request_started.disconnect(started)
        signals.request_finished.disconnect(finished)
    assert fired == ["started", "finished"] and lean_calls == [URL]


@pytest.mark.django_db(transaction=True)
def test_an_exception_is_answered_by_djangos_handler(dso_key, lean_calls, monkeypatch, caplog):
    def broken(**kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr("registry.views.endpoint.message_receive", broken)
    exceptions = []
    record = lambda **kwargs: exceptions.append(kwargs)  # noqa: E731
    signals.got_request_exception.connect(record)
    try:
        with caplog.at_level(logging.ERROR, logger="django.request"):
            lean, django = both(lambda: signed(dso_key))
    finally:
        signals.got_request_exception.disconnect(record)
    assert lean[0].startswith("500") and lean[0] == django[0] and lean[2] == django[2]
    assert lean[1]["Content-Type"] == django[1]["Content-Type"]
    assert len(exceptions) == 2 and lean_calls == [URL]
    assert any("a bug" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)


def test_content_types_are_parsed_as_django_parses_them():
    from django.http import HttpRequest

    for raw in ["text/xml", "text/XML; Charset=UTF-8", 'application/xml; charset="utf-8"', "", "text/xml;;"]:
        request = HttpRequest()
        request._set_content_type_params({"CONTENT_TYPE": raw})
        assert endpoint_wsgi._content_type(raw) == (
            request.content_type,
            request.content_params.get("charset"),
        )
