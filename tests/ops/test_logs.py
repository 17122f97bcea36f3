"""LOG_FORMAT=json: one JSON object per line, with the message's fields."""

import json
import logging
import os
import subprocess
import sys

from django.test import Client

from cro.logs import JsonFormatter
from registry import tasks
from registry.models import Message
from tests import factories
from tests.e2e.processes import REPO

URL = "/shapeshifter/api/v3/message"
DSO = "dso1.example.com"


class Captured(logging.Handler):
    def __init__(self):
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(self.format(record))


def test_message_log_points_carry_ids_participant_and_outcome(make_participant):
    _, private_key = make_participant(DSO, "DSO")
    handler = Captured()
    logger = logging.getLogger("registry.ops")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        payload = factories.test_message(sender=DSO)
        body = factories.signed(payload, role="DSO", private_key=private_key)
        assert Client().post(URL, data=body, content_type="text/xml").status_code == 200
        tasks.process_inbound_message.apply(args=(Message.objects.get(direction="in").pk,))
        Client().post(URL, data=b"<broken", content_type="text/xml")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    entries = [json.loads(line) for line in handler.lines]
    assert all("\n" not in line for line in handler.lines)
    received, processed, refused = entries
    assert received["message_id"] == payload.message_id
    assert received["conversation_id"] == payload.conversation_id
    assert received["participant"] == f"{DSO}/DSO"
    assert received["outcome"] == "received"
    assert processed["message_id"] == payload.message_id
    assert processed["outcome"] == "accepted"
    assert refused["outcome"] == "refused"
    assert refused["status"] == 400
    assert refused["level"] == "INFO"


def _configured_handler_formatter(log_format: str) -> str:
    code = (
        "import django, logging; django.setup(); "
        "print(type(logging.getLogger().handlers[0].formatter).__name__)"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "LOG_FORMAT": log_format}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_log_format_setting_picks_the_formatter():
    assert _configured_handler_formatter("json") == "JsonFormatter"
    assert _configured_handler_formatter("text") == "Formatter"
