"""Limit/offset pagination that refuses malformed values instead of silently ignoring them."""

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.utils.urls import replace_query_param


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


class UncountedPagination(ApiPagination):
    """Limit/offset pages of a table that grows without bound (the registry's history: every row
    ever recorded, millions at national scale): no `count`, whose count(*) would read the whole
    table on every page. One more row than asked is read to know whether there is a next page."""

    template = None

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.limit = self.get_limit(request)
        self.offset = self.get_offset(request)
        rows = list(queryset[self.offset : self.offset + self.limit + 1])
        self.has_next = len(rows) > self.limit
        return rows[: self.limit]

    def get_next_link(self):
        if not self.has_next:
            return None
        url = self.request.build_absolute_uri()
        url = replace_query_param(url, self.limit_query_param, self.limit)
        return replace_query_param(url, self.offset_query_param, self.offset + self.limit)

    def get_paginated_response(self, data):
        return Response({"next": self.get_next_link(), "previous": self.get_previous_link(), "results": data})

    def get_paginated_response_schema(self, schema):
        full = super().get_paginated_response_schema(schema)
        full["properties"].pop("count", None)
        full["required"] = [name for name in full.get("required", []) if name != "count"]
        return full
