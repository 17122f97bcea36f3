from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from cro.signing import cro_public_key
from registry.uftp import keys, versions
from registry.validators import validate_internet_domain


def dns_records(*, domain: str, public_key: str, endpoint_host: str, version: str) -> list[str]:
    """The zone-file lines a CRO publishes (the spec's transport appendix; cro-rules §7)."""
    return [
        f'_cro._usef.{domain}. 3600 IN TXT "{keys.to_cs1(public_key)}"',
        f"_http._cro._usef.{domain}. 3600 IN CNAME {endpoint_host.rstrip('.')}.",
        f'_usef.{domain}. 3600 IN TXT "{version}"',
    ]


class Command(BaseCommand):
    help = (
        "Print the CRO's domain, mode, the public key and the DNS records to publish (never the private key)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--endpoint-host",
            default=None,
            help="the host serving the CRO's endpoints over https on port 443 (default: the CRO domain)",
        )
        parser.add_argument(
            "--dns-version",
            default=versions.DEFAULT_PARTICIPANT_VERSION,
            choices=list(versions.SUPPORTED_VERSIONS),
            help="the version published in _usef TXT; open-mode peers post to its major's path "
            f"(default {versions.DEFAULT_PARTICIPANT_VERSION}, which today's peers speak)",
        )

    def handle(self, *args, **options):
        public_key = cro_public_key()
        endpoint_host = options["endpoint_host"] or settings.CRO_DOMAIN
        try:
            validate_internet_domain(endpoint_host.rstrip(".").lower())
        except ValidationError as exc:
            raise CommandError(f"--endpoint-host {endpoint_host!r} is not a host name") from exc
        self.stdout.write(f"CRO domain:     {settings.CRO_DOMAIN}")
        self.stdout.write(f"mode:           {settings.CRO_MODE}")
        self.stdout.write(f"market zone:    {settings.CRO_TIME_ZONE}")
        self.stdout.write(f"public key:     {keys.to_cs1(public_key)}")
        for major, path in versions.ENDPOINT_PATHS.items():
            spoken = ", ".join(p.version for p in versions.SUPPORTED_VERSIONS.values() if p.major == major)
            self.stdout.write(f"endpoint path:  {path} ({spoken})")
        self.stdout.write("")
        self.stdout.write("; DNS records to publish (zone file; sign the zone with DNSSEC):")
        for line in dns_records(
            domain=settings.CRO_DOMAIN,
            public_key=public_key,
            endpoint_host=endpoint_host,
            version=options["dns_version"],
        ):
            self.stdout.write(line)
