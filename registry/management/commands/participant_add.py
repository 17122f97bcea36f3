from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from registry.services.participants import participant_upsert


class Command(BaseCommand):
    help = "Register a DSO or AGR, or update its keys and endpoint (running it twice is harmless)."

    def add_arguments(self, parser):
        parser.add_argument("--domain", required=True, help="internet domain, e.g. dso.example.com")
        parser.add_argument("--role", required=True, help="DSO or AGR")
        parser.add_argument(
            "--public-key",
            required=True,
            action="append",
            dest="public_keys",
            help="base64 Ed25519 public key or its cs1. string; give it twice during a rotation",
        )
        parser.add_argument("--endpoint", required=True, help="the participant's UFTP endpoint URL")

    def handle(self, *args, **options):
        try:
            saved = participant_upsert(
                domain=options["domain"],
                role=options["role"],
                public_keys=options["public_keys"],
                endpoint_url=options["endpoint"],
            )
        except ValidationError as exc:
            details = "; ".join(
                f"{field}: {' '.join(messages)}" for field, messages in exc.message_dict.items()
            )
            raise CommandError(f"participant not saved: {details}") from exc
        verb = "created" if saved.created else "updated"
        self.stdout.write(f"{verb} {saved.participant}")
