"""The dashboard: counts, messages per hour, failures needing attention."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from cro.signing import cro_public_key
from registry.selectors import dashboard as dashboard_selectors
from registry.selectors import health as health_selectors
from registry.selectors import messages as message_selectors
from registry.uftp import keys
from registry.web.access import staff_required
from registry.web.presentation import hourly_chart

CHART_HOURS = 72


@staff_required
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "web/dashboard.html",
        {
            "nav": "dashboard",
            # Stale worker/beat heartbeats and messages waiting past the sweep: the red banner.
            "problems": health_selectors.operational_problems(),
            "counts": dashboard_selectors.dashboard_counts(),
            "chart": hourly_chart(dashboard_selectors.messages_per_hour(hours=CHART_HOURS)),
            "chart_hours": CHART_HOURS,
            "failed": message_selectors.failed_delivery_list()[:5],
            "failed_processing": message_selectors.failed_processing_list()[:5],
            "stuck": message_selectors.stuck_message_list()[:5],
            "sweep_after_seconds": settings.CRO_SWEEP_AFTER_SECONDS,
            "cro_domain": settings.CRO_DOMAIN,
            "cro_mode": settings.CRO_MODE,
            # Only the public half: the private signing key is never shown.
            "cro_public_key": keys.to_cs1(cro_public_key()),
        },
    )
