"""The OpenAPI schema of the API: drf-spectacular's, plus the error answers every operation can give."""

from drf_spectacular.openapi import AutoSchema

from registry.api.filters import MAX_ID

ERROR_SCHEMA = {
    "type": "object",
    "description": "{'detail': message} or {field: [messages]} (non_field_errors for the whole input)",
    "additionalProperties": {},
}

ERROR_DESCRIPTIONS = {
    "400": "invalid parameters or input (field errors)",
    "401": "not authenticated",
    "403": "not allowed: reads need a staff account, writes an administrator",
    "404": "no such object (or not matching the filters)",
    "409": "the object's current state refuses the request (it exists already, or e.g. is not failed)",
}


# Django's form fields refuse a NUL character in text (no database stores one); say so.
NO_NUL_PATTERN = "^[^\\x00]*$"


class ApiAutoSchema(AutoSchema):
    """Documents the 4xx answers (status-code-conformance checks and clients rely on them) and the
    NUL character every text query parameter refuses."""

    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        for parameter in (operation or {}).get("parameters", []):
            if parameter.get("in") == "path" and parameter.get("name") == "id":
                # The URL takes any segment (see ApiMixin.lookup_value_regex); ids are integers.
                parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
                parameter.setdefault("description", "the object's id")
            schema = parameter.get("schema", {})
            if parameter.get("in") == "query" and schema.get("type") == "string":
                if not {"format", "enum", "pattern"} & set(schema):
                    schema["pattern"] = NO_NUL_PATTERN
        return operation

    def _error_statuses(self) -> list[str]:
        statuses = getattr(self.view, "schema_error_statuses", None)
        if statuses is not None:
            return list(statuses)
        statuses = ["400", "401", "403"]
        if "{" in self.path:
            statuses.append("404")
        if getattr(self.view, "action", None) in getattr(self.view, "schema_conflict_actions", ()):
            statuses.append("409")
        return statuses

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for status in self._error_statuses():
            responses.setdefault(
                status,
                {
                    "description": ERROR_DESCRIPTIONS[status],
                    "content": {"application/json": {"schema": ERROR_SCHEMA}},
                },
            )
        return responses
