from .messages import Message
from .participants import Participant

__all__ = ["Message", "Participant"]
