from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from registry.services.participants import participant_upsert
from registry.uftp import versions


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
        parser.add_argument(
            "--endpoint-for",
            action="append",
            default=None,
            metavar="MAJOR=URL",
            help="the endpoint of one major version, e.g. 4=https://dso.example.com/shapeshifter/api/v4/message "
            "(repeatable; a major not given is derived from --endpoint by the path convention)",
        )
        parser.add_argument(
            "--newest-version",
            default=None,
            help=f"the newest Shapeshifter version the participant speaks (one of "
            f"{', '.join(versions.SUPPORTED_VERSIONS)}; default {versions.DEFAULT_PARTICIPANT_VERSION})",
        )

    def handle(self, *args, **options):
        endpoints = None
        if options["endpoint_for"] is not None:
            endpoints = {}
            for entry in options["endpoint_for"]:
                major, separator, url = entry.partition("=")
                if not separator:
                    raise CommandError(f"--endpoint-for takes MAJOR=URL, not {entry!r}")
                endpoints[major.strip().lstrip("vV")] = url.strip()
        try:
            saved = participant_upsert(
                domain=options["domain"],
                role=options["role"],
                public_keys=options["public_keys"],
                endpoint_url=options["endpoint"],
                endpoints=endpoints,
                newest_version=options["newest_version"],
            )
        except ValidationError as exc:
            details = "; ".join(
                f"{field}: {' '.join(messages)}" for field, messages in exc.message_dict.items()
            )
            raise CommandError(f"participant not saved: {details}") from exc
        verb = "created" if saved.created else "updated"
        self.stdout.write(f"{verb} {saved.participant}")
