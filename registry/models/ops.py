"""Operational state shared by every process: the heartbeats the health check reads."""

from django.db import models


class Heartbeat(models.Model):
    """The last sign of life of one component (a Celery worker node, the beat scheduler).

    Kept in the database because it is the one store every process shares in every setup,
    including the embedded default (SQLite and a filesystem broker, no shared cache).
    """

    class Component(models.TextChoices):
        WORKER = "worker", "Worker"
        BEAT = "beat", "Beat"

    component = models.CharField(max_length=16, choices=Component.choices)
    # The worker's node name (several workers beat side by side); the beat's is "beat".
    node = models.CharField(max_length=255)
    beat_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["component", "node"], name="heartbeat_component_node")]

    def __str__(self) -> str:
        return f"{self.component} {self.node} at {self.beat_at:%Y-%m-%d %H:%M:%S}"
