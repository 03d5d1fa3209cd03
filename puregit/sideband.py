"""Side-band multiplexing: pack data, progress and errors in one pkt stream.

With ``side-band``/``side-band-64k`` (and always in the v2 ``packfile``
section) every pkt-line starts with a band byte: 1 data, 2 progress, 3 fatal
error.  cgit sends at most ``packet_max - 5`` data bytes per packet: 995 for
``side-band`` and 65515 for ``side-band-64k``; the muxer uses the same sizes
so peers that assume them are never surprised.  The demuxer is pure: feed it
packets (or raw bytes) and it returns band-1 data, hands band 2 to a callback
and raises :class:`SidebandFatalError` for band 3.
"""

from __future__ import annotations

from typing import Callable, Iterator, Optional

from .errors import ErrPktError, SidebandError, SidebandFatalError, UnexpectedMessage
from .pktline import FLUSH, NEED_DATA, Pkt, PktLineDecoder, Special, pkt_line

__all__ = [
    "SIDE_BAND_CHANNEL_DATA", "SIDE_BAND_CHANNEL_PROGRESS", "SIDE_BAND_CHANNEL_FATAL",
    "SIDE_BAND_MAX_DATA", "SIDE_BAND_64K_MAX_DATA",
    "mux", "iter_mux", "SidebandDemuxer", "demux",
]

SIDE_BAND_CHANNEL_DATA = 1
SIDE_BAND_CHANNEL_PROGRESS = 2
SIDE_BAND_CHANNEL_FATAL = 3

#: Data bytes per packet for plain ``side-band`` (1000-byte packets).
SIDE_BAND_MAX_DATA = 995
#: Data bytes per packet for ``side-band-64k`` and the v2 packfile section.
SIDE_BAND_64K_MAX_DATA = 65515


def iter_mux(channel: int, data: bytes, max_data: int = SIDE_BAND_64K_MAX_DATA
             ) -> Iterator[bytes]:
    """Yield framed pkt-lines carrying ``data`` on ``channel``.

    Empty ``data`` yields one packet holding only the band byte (a keepalive).
    """
    if channel not in (1, 2, 3):
        raise SidebandError(f"invalid side-band channel {channel!r}")
    if not 1 <= max_data <= SIDE_BAND_64K_MAX_DATA:
        raise SidebandError(f"invalid side-band packet size {max_data}")
    band = bytes((channel,))
    if not data:
        yield pkt_line(band)
        return
    view = memoryview(data)
    for i in range(0, len(view), max_data):
        yield pkt_line(band + view[i:i + max_data].tobytes())


def mux(channel: int, data: bytes, max_data: int = SIDE_BAND_64K_MAX_DATA) -> bytes:
    """Return ``data`` multiplexed onto ``channel`` as framed pkt-lines."""
    return b"".join(iter_mux(channel, data, max_data))


class SidebandDemuxer:
    """Pure side-band demultiplexer.

    ``feed_pkt(pkt)`` takes one decoded packet and returns the band-1 bytes it
    carried (``b""`` for progress or keepalive packets).  A flush packet ends
    the stream (``done`` becomes true).  ``feed(data)`` does the same for raw
    bytes and stops at the flush, leaving later bytes in ``unused``.

    Band 2 goes to ``progress`` (if given), band 3 raises
    :class:`SidebandFatalError`, an ``ERR`` packet raises :class:`ErrPktError`,
    and any other band or an empty packet raises :class:`SidebandError`.
    """

    def __init__(self, progress: Optional[Callable[[bytes], None]] = None,
                 *, end_on_flush: bool = True) -> None:
        self.progress = progress
        self.end_on_flush = end_on_flush
        self.done = False
        self._pkts = PktLineDecoder()

    def feed_pkt(self, pkt: Pkt) -> bytes:
        if self.done:
            raise UnexpectedMessage("side-band packet after the end of the stream")
        if isinstance(pkt, Special):
            if pkt is FLUSH and self.end_on_flush:
                self.done = True
                return b""
            raise UnexpectedMessage(f"unexpected {pkt!r} packet in side-band stream")
        if not pkt:
            raise SidebandError("empty side-band packet (no band byte)")
        band = pkt[0]
        if band == SIDE_BAND_CHANNEL_DATA:
            return pkt[1:]
        if band == SIDE_BAND_CHANNEL_PROGRESS:
            if self.progress is not None:
                self.progress(pkt[1:])
            return b""
        if band == SIDE_BAND_CHANNEL_FATAL:
            raise SidebandFatalError(pkt[1:])
        if pkt.startswith(b"ERR "):
            raise ErrPktError(pkt[4:].rstrip(b"\n"))
        raise SidebandError(f"invalid side-band channel {band}")

    def feed(self, data: bytes) -> bytes:
        """Feed raw bytes; return the band-1 data completed by them."""
        self._pkts.feed(data)
        out = []
        while not self.done:
            pkt = self._pkts.next_pkt()
            if pkt is NEED_DATA:
                break
            out.append(self.feed_pkt(pkt))  # type: ignore[arg-type]
        return b"".join(out)

    @property
    def unused(self) -> bytes:
        return self._pkts.unused


def demux(data: bytes, progress: Optional[Callable[[bytes], None]] = None
          ) -> tuple[bytes, bytes]:
    """Demultiplex a whole flush-terminated stream; return (data, rest).

    Raises :class:`puregit.errors.UnexpectedEOF` if the flush never comes.
    """
    from .errors import UnexpectedEOF

    d = SidebandDemuxer(progress)
    out = d.feed(data)
    if not d.done:
        raise UnexpectedEOF("side-band stream ended before its flush-pkt")
    return out, d.unused
