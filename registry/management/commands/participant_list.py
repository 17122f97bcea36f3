from django.core.management.base import BaseCommand

from registry.models import Participant


class Command(BaseCommand):
    help = "Print every participant, one a line: domain, role, status, endpoint, keys."

    def handle(self, *args, **options):
        for participant in Participant.objects.order_by("domain", "role"):
            keys = ",".join(participant.public_keys)
            self.stdout.write(
                f"{participant.domain}\t{participant.role}\t{participant.status}\t"
                f"{participant.endpoint_url}\t{keys}"
            )
