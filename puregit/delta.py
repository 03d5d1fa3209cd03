"""Applying Git's binary deltas (the OFS_DELTA / REF_DELTA payload).

A delta is ``varint(base size) varint(result size)`` followed by instructions:
a byte with the high bit set copies a range of the base (bits 0-3 say which
offset bytes follow, bits 4-6 which size bytes; size 0 means 0x10000), a byte
1..127 inserts that many literal bytes, and 0 is reserved.

Speed matters here (index-pack and every packed read go through it), so the
loop does as few Python operations per instruction as possible: copies are
memoryview slices of the base and the result is one ``b"".join``.  Every copy
range is checked against the base, and the declared result size is checked
against a limit before anything is allocated and against the output at the end.
"""

from __future__ import annotations

from typing import Optional

from .errors import DeltaError, ObjectTooLargeError

DEFAULT_MAX_OBJECT_SIZE = 1 << 32
"""Refuse objects (and delta results) declared larger than this (4 GiB)."""


def _varint(delta, pos: int) -> tuple[int, int]:
    """Decode one little-endian base-128 size at ``pos``; return (value, new pos)."""
    value = 0
    shift = 0
    try:
        while True:
            c = delta[pos]
            pos += 1
            value |= (c & 0x7F) << shift
            if not c & 0x80:
                return value, pos
            shift += 7
            if shift > 63:
                raise DeltaError("delta header size is too long")
    except IndexError:
        raise DeltaError("delta is truncated in its header") from None


def delta_header_sizes(delta) -> tuple[int, int, int]:
    """Return (base size, result size, offset of the first instruction)."""
    base_size, pos = _varint(delta, 0)
    result_size, pos = _varint(delta, pos)
    return base_size, result_size, pos


def apply_delta(base, delta, max_size: int = DEFAULT_MAX_OBJECT_SIZE,
                runs: Optional[list] = None) -> bytes:
    """Rebuild the target of ``delta`` from ``base``.

    ``base`` and ``delta`` may be bytes-like objects or lists of chunks (as
    Dulwich accepts).  Raises DeltaError if the delta is malformed or lies about
    a size, and ObjectTooLargeError if it declares a result above ``max_size``.
    ``runs``: a list to receive what :func:`delta_copy_runs` would return,
    without decoding the delta a second time.
    """
    if isinstance(base, (list, tuple)):
        base = b"".join(base)
    if isinstance(delta, (list, tuple)):
        delta = b"".join(delta)
    if not isinstance(delta, bytes):
        delta = bytes(delta)
    src_size, dest_size, pos = delta_header_sizes(delta)
    if dest_size > max_size:
        raise ObjectTooLargeError(f"delta result of {dest_size} bytes exceeds limit {max_size}")
    if src_size != len(base):
        raise DeltaError(f"delta base size {src_size} does not match base of {len(base)} bytes")
    bv = memoryview(base)
    out: list = []
    append = out.append
    n = len(delta)
    total = 0
    try:
        while pos < n:
            cmd = delta[pos]
            pos += 1
            if cmd & 0x80:
                if cmd & 0x0F == 0x01:  # the common one-byte offset
                    off = delta[pos]
                    pos += 1
                else:
                    off = 0
                    if cmd & 0x01:
                        off = delta[pos]
                        pos += 1
                    if cmd & 0x02:
                        off |= delta[pos] << 8
                        pos += 1
                    if cmd & 0x04:
                        off |= delta[pos] << 16
                        pos += 1
                    if cmd & 0x08:
                        off |= delta[pos] << 24
                        pos += 1
                if cmd & 0x70 == 0x10:  # the common one-byte size
                    size = delta[pos]
                    pos += 1
                else:
                    size = 0
                    if cmd & 0x10:
                        size = delta[pos]
                        pos += 1
                    if cmd & 0x20:
                        size |= delta[pos] << 8
                        pos += 1
                    if cmd & 0x40:
                        size |= delta[pos] << 16
                        pos += 1
                    if not size:
                        size = 0x10000
                end = off + size
                if end > src_size:
                    raise DeltaError(f"delta copies {off}..{end} beyond base of {src_size} bytes")
                if runs is not None:
                    runs.append((total, total + size, off))
                total += size
                append(bv[off:end])
            elif cmd:
                end = pos + cmd
                if end > n:
                    raise DeltaError("delta insert runs past the end of the delta")
                total += cmd
                append(delta[pos:end])
                pos = end
            else:
                raise DeltaError("delta uses reserved instruction 0")
            if total > dest_size:
                raise DeltaError(f"delta produces more than its declared {dest_size} bytes")
    except IndexError:
        raise DeltaError("delta is truncated inside a copy instruction") from None
    if total != dest_size:
        raise DeltaError(f"delta produced {total} bytes, header says {dest_size}")
    return b"".join(out)


def delta_copy_runs(delta) -> list[tuple[int, int, int]]:
    """(result start, result end, base start) of every copy instruction, in order.

    A tree walk uses these to know which stretches of a tree are byte-for-byte
    stretches of its delta base (whose entries it has already handled).  Only
    meant for deltas that ``apply_delta`` has accepted; malformed input still
    raises DeltaError rather than returning nonsense.
    """
    if not isinstance(delta, bytes):
        delta = bytes(delta)
    _, _, pos = delta_header_sizes(delta)
    runs = []
    append = runs.append
    out = 0
    n = len(delta)
    try:
        while pos < n:
            cmd = delta[pos]
            pos += 1
            if cmd & 0x80:
                off = size = 0
                if cmd & 0x01:
                    off = delta[pos]
                    pos += 1
                if cmd & 0x02:
                    off |= delta[pos] << 8
                    pos += 1
                if cmd & 0x04:
                    off |= delta[pos] << 16
                    pos += 1
                if cmd & 0x08:
                    off |= delta[pos] << 24
                    pos += 1
                if cmd & 0x10:
                    size = delta[pos]
                    pos += 1
                if cmd & 0x20:
                    size |= delta[pos] << 8
                    pos += 1
                if cmd & 0x40:
                    size |= delta[pos] << 16
                    pos += 1
                if not size:
                    size = 0x10000
                append((out, out + size, off))
                out += size
            elif cmd:
                pos += cmd
                out += cmd
            else:
                raise DeltaError("delta uses reserved instruction 0")
    except IndexError:
        raise DeltaError("delta is truncated inside a copy instruction") from None
    return runs


def encode_varint(value: int) -> bytes:
    """Encode a size the way delta headers do (used by tests and the writer)."""
    out = bytearray()
    while True:
        c = value & 0x7F
        value >>= 7
        if value:
            out.append(c | 0x80)
        else:
            out.append(c)
            return bytes(out)


__all__ = ["apply_delta", "delta_copy_runs", "delta_header_sizes", "encode_varint", "DEFAULT_MAX_OBJECT_SIZE"]
