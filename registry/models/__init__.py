from .messages import Message
from .participants import Participant

__all__ = ["Message", "Participant"]
from .portfolio import (  # noqa: E402
    CongestionPoint,
    CongestionPointVersion,
    Connection,
    Membership,
    Representation,
    RepresentationSequence,
)

__all__ += [
    "Connection",
    "CongestionPoint",
    "CongestionPointVersion",
    "Membership",
    "Representation",
    "RepresentationSequence",
]
from .web import CsvImport  # noqa: E402

__all__ += ["CsvImport"]
from .tokens import ApiToken  # noqa: E402

__all__ += ["ApiToken"]
from .ops import Heartbeat  # noqa: E402

__all__ += ["Heartbeat"]
from .audit import AuditEntry  # noqa: E402
from .deliveries import DeliveryAttempt  # noqa: E402
from .refusals import RefusalCount  # noqa: E402

__all__ += ["RefusalCount", "DeliveryAttempt", "AuditEntry"]
