from django.core.management.base import BaseCommand

from registry.services.sweep import messages_sweep


class Command(BaseCommand):
    help = "Dispatch again every message stuck in a non-final state (the beat schedule runs this too)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than",
            type=int,
            default=None,
            help="seconds a message must have been stuck (default: setting)",
        )

    def handle(self, *args, **options):
        report = messages_sweep(older_than_seconds=options["older_than"])
        self.stdout.write(f"dispatched {report.inbound} inbound and {report.outbound} outbound messages")
