"""The lean WSGI handler of a UFTP POST: `uftp_post_answer` without Django's request cycle.

Under load a UFTP POST spent about a fifth of the web process's CPU in Django's handler around
the view: the request object (its Content-Type parsed with the email package), the middleware,
URL resolution, the response object. None of it decides anything for a POST that is ordinary in
every way Django's middleware looks at, so such a POST (`lean_path_takes`) is answered here, with
the response those middleware would have given it (`_response_headers`). Anything else (a Host
not allowed, plain HTTP where HTTPS is required, a path not spelled as the version table spells
it, ...) goes through Django (cro/wsgi.py), which answers it as before. The request signals
still fire (they recycle the database connections), and an exception is answered by Django's
own handler. tests/endpoint/test_endpoint_wsgi.py holds both paths to the same answers.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from http.client import responses

from django.conf import settings
from django.core import signals
from django.core.handlers.exception import response_for_exception
from django.core.handlers.wsgi import WSGIRequest
from django.http.request import split_domain_port, validate_host
from django.utils.http import parse_header_parameters

from registry.uftp import versions
from registry.views.endpoint import REFUSAL_CONTENT_TYPE, uftp_post_answer

# HttpResponse's content type, which the 200 (it has no body) carries too.
ACCEPTED_CONTENT_TYPE = "text/html; charset=utf-8"


class UftpLeanHandler:
    """The sender of the request signals (Django's handler sends its class)."""


def lean_path_takes(environ: dict) -> bool:
    """A UFTP POST that Django's middleware would pass through to the view unchanged."""
    return (
        environ.get("REQUEST_METHOD") == "POST"
        and environ.get("PATH_INFO") in _served_paths()
        and _host_allowed(environ)
        and not (settings.SECURE_SSL_REDIRECT and not _is_secure(environ))
        and not settings.DISALLOWED_USER_AGENTS
        and not settings.PREPEND_WWW
    )


@functools.cache
def _served_paths() -> frozenset[str]:
    return frozenset(versions.ENDPOINT_PATHS.values())


def _host_allowed(environ: dict) -> bool:
    """The Host header, as HttpRequest.get_host() checks it; False (Django answers) when it
    would refuse it or when the host comes from elsewhere (X-Forwarded-Host, SERVER_NAME)."""
    if settings.USE_X_FORWARDED_HOST and "HTTP_X_FORWARDED_HOST" in environ:
        return False
    host = environ.get("HTTP_HOST")
    if not host:
        return False
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    domain, _ = split_domain_port(host)
    return bool(domain) and validate_host(domain, allowed)


def _is_secure(environ: dict) -> bool:
    """HttpRequest.is_secure(): the trusted proxy's header when set, else the WSGI scheme."""
    if settings.SECURE_PROXY_SSL_HEADER:
        header, secure_value = settings.SECURE_PROXY_SSL_HEADER
        value = environ.get(header)
        if value is not None:
            value, *_ = value.split(",", 1)
            return value.strip() == secure_value
    return environ.get("wsgi.url_scheme") == "https"


@functools.lru_cache(maxsize=32)
def _content_type(raw: str) -> tuple[str, str | None]:
    """(media type, charset) as HttpRequest parses them; peers send one or two spellings."""
    media_type, params = parse_header_parameters(raw)
    return media_type, params.get("charset")


def uftp_wsgi(environ: dict, start_response: Callable) -> Iterable[bytes]:
    """Answer a POST that `lean_path_takes`."""
    signals.request_started.send(sender=UftpLeanHandler, environ=environ)
    try:
        try:
            status, headers, body = _answered(environ)
        except Exception as exc:
            status, headers, body = _exception_answered(environ, exc)
        start_response(status, headers)
        return [body]
    finally:
        signals.request_finished.send(sender=UftpLeanHandler)


def _answered(environ: dict) -> tuple[str, list[tuple[str, str]], bytes]:
    stream = environ["wsgi.input"]
    media_type, charset = _content_type(environ.get("CONTENT_TYPE", ""))
    answer = uftp_post_answer(
        path_info=environ["PATH_INFO"],
        content_length=environ.get("CONTENT_LENGTH", ""),
        read_body=stream.read,
        content_type=media_type,
        charset=charset,
        client_address=environ.get("REMOTE_ADDR", ""),
    )
    if answer.status == 200:
        body, content_type = b"", ACCEPTED_CONTENT_TYPE
    else:
        body, content_type = answer.reason.encode("utf-8"), REFUSAL_CONTENT_TYPE
    headers = _response_headers(environ, content_type=content_type, length=len(body))
    return _status_line(answer.status), headers, body


def _response_headers(environ: dict, *, content_type: str, length: int) -> list[tuple[str, str]]:
    """What HttpResponse, SecurityMiddleware, CommonMiddleware and the CSP middleware set."""
    headers = [("Content-Type", content_type), ("Content-Length", str(length))]
    if settings.SECURE_HSTS_SECONDS and _is_secure(environ):
        value = f"max-age={settings.SECURE_HSTS_SECONDS}"
        if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
            value += "; includeSubDomains"
        if settings.SECURE_HSTS_PRELOAD:
            value += "; preload"
        headers.append(("Strict-Transport-Security", value))
    if settings.SECURE_CONTENT_TYPE_NOSNIFF:
        headers.append(("X-Content-Type-Options", "nosniff"))
    policy = settings.SECURE_REFERRER_POLICY
    if policy:
        if isinstance(policy, str):
            policy = [part.strip() for part in policy.split(",")]
        headers.append(("Referrer-Policy", ",".join(policy)))
    if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
        headers.append(("Cross-Origin-Opener-Policy", settings.SECURE_CROSS_ORIGIN_OPENER_POLICY))
    if settings.CRO_CONTENT_SECURITY_POLICY:
        headers.append(("Content-Security-Policy", settings.CRO_CONTENT_SECURITY_POLICY))
    return headers


def _status_line(status: int) -> str:
    return f"{status} {responses.get(status, 'Unknown Status Code')}"


def _exception_answered(environ: dict, exc: Exception) -> tuple[str, list[tuple[str, str]], bytes]:
    """Django's answer to an unhandled exception (logged, signalled, its 500 page)."""
    response = response_for_exception(WSGIRequest(environ), exc)
    headers = [(name, str(value)) for name, value in response.items()]
    if "Content-Length" not in response:
        headers.append(("Content-Length", str(len(response.content))))
    return _status_line(response.status_code), headers, response.content


__all__ = ["lean_path_takes", "uftp_wsgi"]
