"""Pkt-line framing: the encoder and an incremental, sans-I/O decoder.

Git frames almost every protocol message as pkt-lines: four hex digits giving
the total length (header included) followed by the payload.  Lengths below 4
are special packets: ``0000`` flush, ``0001`` delim (protocol v2) and ``0002``
response-end (v2, stateless connections); ``0003`` is undefined.  The decoder
keeps these apart as distinct :class:`Special` values instead of folding them
into ``None`` so protocol v2 can tell a section break from the end of a
response.

Limits follow cgit (``pkt-line.h``): a pkt-line is at most 65520 bytes in
total.  We are strict when writing (payload <= 65516 bytes) and reject
anything longer than 65520 bytes when reading.  The decoder never trusts the
wire beyond that bound: it buffers at most one pkt-line plus what the caller
has fed.
"""

from __future__ import annotations

import enum
from typing import Iterable, Iterator, Union

from .errors import PktLineError

__all__ = [
    "Special", "FLUSH", "DELIM", "RESPONSE_END", "NEED_DATA", "NeedData",
    "FLUSH_PKT", "DELIM_PKT", "RESPONSE_END_PKT",
    "MAX_PKT_SIZE", "MAX_PKT_PAYLOAD", "DEFAULT_PKT_SIZE",
    "Pkt", "pkt_line", "encode_pkt", "encode_pkts", "parse_pkt_length",
    "decode_pkt", "split_pkts", "PktLineDecoder",
]


class Special(enum.Enum):
    """The three special (length < 4) packets."""

    FLUSH = 0
    DELIM = 1
    RESPONSE_END = 2

    def __repr__(self) -> str:
        return self.name

    def encode(self) -> bytes:
        return b"%04x" % self.value


FLUSH = Special.FLUSH
DELIM = Special.DELIM
RESPONSE_END = Special.RESPONSE_END

FLUSH_PKT = b"0000"
DELIM_PKT = b"0001"
RESPONSE_END_PKT = b"0002"

#: Largest pkt-line, length header included (cgit's LARGE_PACKET_MAX).
MAX_PKT_SIZE = 65520
#: Largest payload we write (cgit's LARGE_PACKET_DATA_MAX).
MAX_PKT_PAYLOAD = MAX_PKT_SIZE - 4
#: cgit's DEFAULT_PACKET_MAX, the limit for plain ``side-band``.
DEFAULT_PKT_SIZE = 1000

#: A decoded packet: payload bytes or one of the special packets.
Pkt = Union[bytes, Special]

_HEX = frozenset(b"0123456789abcdefABCDEF")


class NeedData:
    """Returned by the decoder when more bytes are needed."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NEED_DATA"

    def __bool__(self) -> bool:
        return False


NEED_DATA = NeedData()


def pkt_line(data: bytes | None) -> bytes:
    """Wrap ``data`` in a pkt-line; ``None`` gives the flush-pkt ``0000``.

    Raises :class:`PktLineError` for payloads over 65516 bytes.
    """
    if data is None:
        return FLUSH_PKT
    if isinstance(data, Special):
        return data.encode()
    if isinstance(data, str):
        raise TypeError("pkt_line() needs bytes, not str")
    n = len(data)
    if n > MAX_PKT_PAYLOAD:
        raise PktLineError(
            f"payload of {n} bytes exceeds the pkt-line maximum of {MAX_PKT_PAYLOAD}")
    return b"%04x" % (n + 4) + bytes(data)


def encode_pkt(pkt: Pkt | None) -> bytes:
    """Encode one packet: bytes payload, a :class:`Special`, or None (flush)."""
    return pkt_line(pkt)


def encode_pkts(pkts: Iterable[Pkt | None]) -> bytes:
    """Encode a sequence of packets into one byte string."""
    return b"".join(pkt_line(p) for p in pkts)


def parse_pkt_length(header: bytes) -> int:
    """Parse and check a 4-byte length header; return the total length.

    Accepts only hex digits (``int(x, 16)`` would also take signs, ``0x``,
    underscores and whitespace); returns 0, 1 or 2 for the special packets.
    """
    if len(header) != 4 or not _HEX.issuperset(header):
        raise PktLineError(f"invalid pkt-line length header {bytes(header)!r}")
    n = int(header, 16)
    if n == 3:
        raise PktLineError("invalid pkt-line length 0003")
    if n > MAX_PKT_SIZE:
        raise PktLineError(f"pkt-line length {n} exceeds the maximum of {MAX_PKT_SIZE}")
    return n


def decode_pkt(buf: bytes | bytearray | memoryview, pos: int = 0
               ) -> tuple[Pkt | NeedData, int]:
    """Decode one packet from ``buf`` at ``pos``.

    Returns ``(pkt, new_pos)``, or ``(NEED_DATA, pos)`` when ``buf`` does not
    yet hold a whole packet.
    """
    end = len(buf)
    if end - pos < 4:
        return NEED_DATA, pos
    n = parse_pkt_length(bytes(buf[pos:pos + 4]))
    if n < 4:
        return Special(n), pos + 4
    if end - pos < n:
        return NEED_DATA, pos
    return bytes(buf[pos + 4:pos + n]), pos + n


def split_pkts(data: bytes) -> tuple[list[Pkt], bytes]:
    """Split ``data`` into whole packets; return them and the unused tail."""
    out: list[Pkt] = []
    pos = 0
    while True:
        pkt, pos2 = decode_pkt(data, pos)
        if pkt is NEED_DATA:
            return out, bytes(data[pos:])
        out.append(pkt)  # type: ignore[arg-type]
        pos = pos2


class PktLineDecoder:
    """Incremental pkt-line decoder: feed bytes, take packets.

    ``feed(data)`` buffers bytes; ``next_pkt()`` returns the next packet (payload
    bytes or a :class:`Special`) or :data:`NEED_DATA`.  Packets are only taken
    out on request, so a caller can stop at a message boundary and hand the
    remaining bytes (``unused``) to someone else, e.g. a pack parser.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pos = 0

    def feed(self, data: bytes) -> None:
        if self._pos:
            del self._buf[:self._pos]
            self._pos = 0
        self._buf += data

    def next_pkt(self) -> Pkt | NeedData:
        pkt, self._pos = decode_pkt(self._buf, self._pos)
        return pkt

    def __iter__(self) -> Iterator[Pkt]:
        """Yield every complete packet currently buffered."""
        while True:
            pkt = self.next_pkt()
            if pkt is NEED_DATA:
                return
            yield pkt  # type: ignore[misc]

    def needed(self) -> int:
        """Bytes still needed to finish the current packet (0 if one is ready)."""
        avail = len(self._buf) - self._pos
        if avail < 4:
            return 4 - avail
        n = parse_pkt_length(bytes(self._buf[self._pos:self._pos + 4]))
        return max(0, max(n, 4) - avail)

    @property
    def unused(self) -> bytes:
        """Bytes fed but not yet returned as packets."""
        return bytes(self._buf[self._pos:])

    def take_unused(self) -> bytes:
        """Return and forget the buffered bytes."""
        rest = self.unused
        self._buf = bytearray()
        self._pos = 0
        return rest
