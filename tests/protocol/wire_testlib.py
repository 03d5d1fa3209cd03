"""Helpers shared by the wire-protocol tests (not a test module)."""

from __future__ import annotations

import os

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "fixtures", "wire")

TRAILING = b"0009done\n0000garbage"


def fixture(name: str) -> bytes:
    with open(os.path.join(FIXTURES, name), "rb") as f:
        return f.read()


def three_ways(cls, data: bytes, **opts):
    """Decode ``data`` whole, one byte at a time, and with trailing bytes.

    Returns the message after checking all three agree, that the byte-wise
    decoder finishes exactly on the last byte, and that trailing bytes are
    left untouched.
    """
    whole = cls.decode(data, **opts)
    d = cls.decoder(**opts)
    for i in range(len(data)):
        done = d.feed(data[i:i + 1])
        assert done == (i == len(data) - 1), f"completed at byte {i} of {len(data)}"
    assert d.result == whole
    assert d.unused == b""
    msg, rest = cls.decode_prefix(data + TRAILING, **opts)
    assert msg == whole
    assert rest == TRAILING
    # byte-wise with trailing bytes: the decoder stops at the message end
    d = cls.decoder(**opts)
    blob = data + TRAILING
    for i in range(len(blob)):
        d.feed(blob[i:i + 1])
    assert d.done and d.result == whole
    assert d.unused == TRAILING
    return whole
