"""The REST API's tokens as the Django admin shows them: by a prefix, never in clear."""

from rest_framework.authtoken.models import TokenProxy

# Enough to tell tokens apart; far too little to guess the other 34 hex digits.
TOKEN_PREFIX_LENGTH = 6


class ApiToken(TokenProxy):
    class Meta:
        proxy = True
        verbose_name = "API token"
        verbose_name_plural = "API tokens"

    @property
    def key_prefix(self) -> str:
        return f"{self.key[:TOKEN_PREFIX_LENGTH]}…" if self.key else ""

    def __str__(self) -> str:
        # Admin titles, breadcrumbs, messages and the admin log show this, not the key.
        return f"{self.key_prefix} ({self.user})"
