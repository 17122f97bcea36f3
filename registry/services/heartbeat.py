"""Heartbeats of the worker and the beat scheduler (read by the health check and the dashboard)."""

from django.utils import timezone

from registry.models import Heartbeat


def heartbeat_record(*, component: str, node: str) -> None:
    Heartbeat.objects.update_or_create(component=component, node=node, defaults={"beat_at": timezone.now()})
