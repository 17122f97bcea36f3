import getpass

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from registry.models import Participant
from registry.services.sequence import entity_time_stamp_reset


class Command(BaseCommand):
    help = (
        "Reset the last TimeStamp of a DSO's congestion point or an AGR's connection to now, when an "
        "update stamped far in the future makes every later one 'Subordinate sequence number' (audited)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--domain", required=True, help="the participant's internet domain")
        parser.add_argument("--role", required=True, choices=Participant.Role.values, help="DSO or AGR")
        parser.add_argument("--entity-address", required=True, help="the congestion point or connection")

    def handle(self, *args, **options):
        participant = Participant.objects.filter(domain=options["domain"], role=options["role"]).first()
        if participant is None:
            raise CommandError(f"no participant {options['domain']} ({options['role']})")
        try:
            reset = entity_time_stamp_reset(
                participant=participant,
                entity_address=options["entity_address"],
                reset_by=f"{getpass.getuser()} (manage.py cro_time_stamp_reset)",
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        previous = reset.previous.isoformat() if reset.previous else "none"
        self.stdout.write(
            f"{reset.entity_address} of {participant}: last TimeStamp {previous} -> {reset.current.isoformat()}"
        )
