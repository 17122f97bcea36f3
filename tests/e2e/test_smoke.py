import pytest
from shapeshifter_uftp import TestMessage

from registry.models import Message

pytestmark = pytest.mark.e2e


def test_test_message_roundtrip(peers):
    message = peers.dso1.send(TestMessage())
    arrival = peers.dso1.wait_for(conversation_id=message.conversation_id, tag="TestMessageResponse", parsed=True)
    assert arrival.status == 200
    print(arrival.xml)
    inbound = Message.objects.get(direction="in", message_id=message.message_id)
    assert inbound.status == "processed"
