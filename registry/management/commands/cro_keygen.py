from django.core.management.base import BaseCommand

from registry.uftp import keys


class Command(BaseCommand):
    help = (
        "Print a new Ed25519 key pair: the private key (base64, 88 characters) on the first line, "
        "the public cs1. string to publish on the second."
    )

    def handle(self, *args, **options):
        private_key, public_key = keys.generate_keypair()
        self.stdout.write(private_key)
        self.stdout.write(keys.to_cs1(public_key))
