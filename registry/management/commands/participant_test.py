from django.core.management.base import BaseCommand, CommandError

from registry.models import Participant
from registry.services.outbound import participant_test_message_send


class Command(BaseCommand):
    help = "Send the CRO's TestMessage to a participant; its TestMessageResponse is recorded against it."

    def add_arguments(self, parser):
        parser.add_argument("--domain", required=True)
        parser.add_argument("--role", required=True, choices=Participant.Role.values)
        # Not --version: Django's BaseCommand defines that one (the program's version).
        parser.add_argument(
            "--uftp-version", dest="uftp_version", default=None, help="UFTP version to send (default: newest)"
        )

    def handle(self, *args, **options):
        participant = Participant.objects.filter(domain=options["domain"], role=options["role"]).first()
        if participant is None:
            raise CommandError(f"no participant {options['domain']} ({options['role']})")
        message = participant_test_message_send(participant=participant, version=options["uftp_version"])
        self.stdout.write(
            f"TestMessage {message.message_id} queued for {participant} at {participant.endpoint_url}"
        )
