"""LOG_FORMAT=json: one JSON object per line, with the message fields passed in `extra=`."""

import datetime as dt
import json
import logging

# The `extra=` keys of the CRO's log points that go into the JSON object when present.
CONTEXT_FIELDS = (
    "message_id",
    "conversation_id",
    "participant",
    "message_type",
    "outcome",
    "status",
    "reason",
    "client_address",
    "task",
)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, tz=dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value not in (None, ""):
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)
