from django.conf import settings
from django.core.management.base import BaseCommand

from cro.signing import cro_public_key
from registry.uftp import keys


class Command(BaseCommand):
    help = "Print the CRO's domain, mode and the public key to publish (never the private key)."

    def handle(self, *args, **options):
        public_key = cro_public_key()
        self.stdout.write(f"CRO domain:     {settings.CRO_DOMAIN}")
        self.stdout.write(f"mode:           {settings.CRO_MODE}")
        self.stdout.write(f"market zone:    {settings.CRO_TIME_ZONE}")
        self.stdout.write(f"public key:     {keys.to_cs1(public_key)}")
        self.stdout.write("endpoint path:  /shapeshifter/api/v3/message")
