"""The OpenAPI schema of the API: drf-spectacular's, plus the error answers every operation can give."""

from drf_spectacular.openapi import AutoSchema

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
    "409": "the object exists already",
}


class ApiAutoSchema(AutoSchema):
    """Documents the 4xx answers: status-code-conformance checks (and clients) rely on them."""

    def _error_statuses(self) -> list[str]:
        statuses = getattr(self.view, "schema_error_statuses", None)
        if statuses is not None:
            return list(statuses)
        statuses = ["400", "401", "403"]
        if "{" in self.path:
            statuses.append("404")
        if self.method == "POST" and getattr(self.view, "action", None) == "create":
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
