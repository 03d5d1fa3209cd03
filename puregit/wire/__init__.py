"""Typed Git wire messages, one module per message family.

Every message is a dataclass with ``encode() -> bytes`` and an incremental
decoder (``Cls.decoder()``, ``Cls.decode(data)``, ``Cls.decode_prefix(data)``,
``Cls.from_pkts(pkts)``); see :mod:`puregit.wire.base` for how decoding works.
"""

from .acks import Ack, AckLine, Nak
from .advertisement import AdvertisedRef, RefAdvertisement
from .base import MessageDecoder, WireMessage
from .push import PushCommand, PushOptions, PushRequest
from .report_status import RefStatus, ReportStatus
from .request import GitRequest
from .shallow import ShallowUpdate
from .upload_request import UploadHaves, UploadRequest
from .v2 import (
    Acknowledgments, CapabilityAdvertisement, CommandRequest, FetchRequest, FetchResponse,
    LsRef, LsRefsRequest, LsRefsResponse, ShallowInfo,
)

__all__ = [
    "Ack", "AckLine", "Nak", "AdvertisedRef", "RefAdvertisement", "MessageDecoder",
    "WireMessage", "PushCommand", "PushOptions", "PushRequest", "RefStatus", "ReportStatus",
    "GitRequest", "ShallowUpdate", "UploadHaves", "UploadRequest", "Acknowledgments",
    "CapabilityAdvertisement", "CommandRequest", "FetchRequest", "FetchResponse", "LsRef",
    "LsRefsRequest", "LsRefsResponse", "ShallowInfo",
]
