"""Monitoring endpoints: /health/live, /health/ready and /metrics (no login; no secrets)."""

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from registry import metrics as cro_metrics
from registry.selectors.health import readiness_checks


@never_cache
@require_GET
def live(request: HttpRequest) -> HttpResponse:
    """200 while the process serves requests; touches nothing else."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def ready(request: HttpRequest) -> HttpResponse:
    """200 when the CRO can do its work, 503 naming what is wrong."""
    checks = readiness_checks()
    ok = all(check.ok for check in checks.values())
    return JsonResponse(
        {
            "status": "ok" if ok else "fail",
            "checks": {name: check.as_dict() for name, check in checks.items()},
        },
        status=200 if ok else 503,
    )


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    token = settings.CRO_METRICS_TOKEN
    if token:
        given = request.META.get("HTTP_AUTHORIZATION", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            response = HttpResponse("a bearer token is required", status=401, content_type="text/plain")
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
    from prometheus_client import CONTENT_TYPE_LATEST

    return HttpResponse(cro_metrics.metrics_exposition(), content_type=CONTENT_TYPE_LATEST)
