"""Limit/offset pagination that refuses malformed values instead of silently ignoring them."""

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.settings import api_settings


class ApiPagination(LimitOffsetPagination):
    default_limit = api_settings.PAGE_SIZE or 50
    max_limit = 1000
    max_offset = 2**31 - 1

    def _parse(self, request, name: str, *, minimum: int, maximum: int, default: int) -> int:
        raw = request.query_params.get(name)
        if raw is None:
            return default
        try:
            value = int(raw, 10)
        except (TypeError, ValueError):
            raise ValidationError({name: [f"{name} must be an integer"]}) from None
        if not minimum <= value <= maximum:
            raise ValidationError({name: [f"{name} must be between {minimum} and {maximum}"]})
        return value

    def get_limit(self, request) -> int:
        return self._parse(
            request, self.limit_query_param, minimum=1, maximum=self.max_limit, default=self.default_limit
        )

    def get_offset(self, request) -> int:
        return self._parse(request, self.offset_query_param, minimum=0, maximum=self.max_offset, default=0)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        bounds = {
            self.limit_query_param: {"minimum": 1, "maximum": self.max_limit, "default": self.default_limit},
            self.offset_query_param: {"minimum": 0, "maximum": self.max_offset, "default": 0},
        }
        for parameter in parameters:
            parameter["schema"].update(bounds.get(parameter["name"], {}))
        return parameters


class RegistryPagination(ApiPagination):
    """Lists whose items carry their connections (a CP holds up to thousands): a small default page,
    so that an unparameterised request answers in kilobytes, not megabytes, at national scale."""

    default_limit = 10
