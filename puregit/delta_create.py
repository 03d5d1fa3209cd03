"""Create git deltas: copy/insert instructions that rebuild a target from a base.

Format (gitformat-pack, "Deltified representation"): two size varints (base
size, target size), then instructions.  A copy is ``1xxxxxxx`` followed by the
non-zero bytes of a 32-bit offset (bits 0-3 say which) and of a 24-bit size
(bits 4-6); a size of 0 means 0x10000.  An insert is ``0xxxxxxx`` (1-127)
followed by that many literal bytes.

The algorithm follows the idea of cgit's diff-delta: cut the base into
16-byte blocks at block boundaries and index them in a dict; slide over the
target one byte at a time looking each 16-byte window up; on a hit, extend the
match backwards into the pending literal run and forwards, then emit a copy.
Python is slow per byte, so forward extension compares slices in galloping
steps (C speed), and only novel target bytes cost a dict lookup each.  A
``max_delta_size`` makes hopeless attempts stop early, which is what keeps
the pack writer's window search affordable.

:class:`DeltaIndex` indexes a base once so that a pack writer can delta many
targets against it.
"""

from __future__ import annotations

from collections import Counter
from typing import Optional

__all__ = ["BLOCK", "MAX_COPY", "MAX_INSERT", "DeltaIndex", "create_delta", "encode_size"]

BLOCK = 16            # bytes per indexed base block (cgit's RABIN_WINDOW)
MAX_COPY = 0x10000    # largest copy per instruction (what cgit emits; encoded as size 0)
MAX_INSERT = 0x7F     # largest literal run per insert instruction
MAX_CANDIDATES = 8    # positions tried per repeated block (cgit's HASH_LIMIT is 64)
MAX_OFFSET = 0xFFFFFFFF


def encode_size(n: int) -> bytes:
    """The little-endian base-128 varint used for the two sizes of a delta header."""
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _emit_insert(out: bytearray, data: bytes, start: int, end: int) -> None:
    while start < end:
        stop = min(start + MAX_INSERT, end)
        out.append(stop - start)
        out += data[start:stop]
        start = stop


# A copy's arguments are the non-zero bytes of (offset, size) little-endian,
# and its opcode has one bit per byte present: translate() marks the non-zero
# bytes and a table turns the mark pattern into the opcode, all in C.
_NONZERO = bytes([0] + [1] * 255)
_COPY_OPS = {bytes((m >> i) & 1 for i in range(7)): 0x80 | m for m in range(128)}


def _emit_copy(out: bytearray, offset: int, size: int) -> None:
    while size > 0:
        n = MAX_COPY if size > MAX_COPY else size
        # size 0x10000 is sent as "no size bytes"
        args = (offset if n == MAX_COPY else offset | n << 32).to_bytes(7, "little")
        out.append(_COPY_OPS[args.translate(_NONZERO)])
        out += args.replace(b"\0", b"")
        offset += n
        size -= n


def _common_prefix(a: bytes, ai: int, b: bytes, bi: int, limit: int) -> int:
    """Length of the common prefix of a[ai:] and b[bi:], at most ``limit``.

    Gallops with growing slice comparisons, then halves the failing chunk, so
    a long match costs O(log n) comparisons made in C.
    """
    done = 0
    step = 32
    while done < limit:
        k = limit - done
        if k > step:
            k = step
        if a[ai + done:ai + done + k] == b[bi + done:bi + done + k]:
            done += k
            step <<= 1
            continue
        # the chunk [done, done + k) holds a mismatch: narrow it down
        while k > 1:
            h = k >> 1
            if a[ai + done:ai + done + h] == b[bi + done:bi + done + h]:
                done += h
                k -= h
            else:
                k = h
        return done
    return done


class DeltaIndex:
    """A base object cut into 16-byte blocks and indexed, ready to delta targets against."""

    __slots__ = ("base", "_index", "_repeats")

    def __init__(self, base: bytes) -> None:
        base = bytes(base)
        self.base = base
        n = min(len(base), MAX_OFFSET)
        positions = range(0, n - BLOCK + 1, BLOCK)
        blocks = [base[i:i + BLOCK] for i in positions]
        # Insert backwards so that the first occurrence of a block wins.
        self._index = dict(zip(reversed(blocks), reversed(positions)))
        self._repeats: dict[bytes, list[int]] = {}
        if len(self._index) < len(blocks):
            self._index_repeats(blocks, positions)

    def _index_repeats(self, blocks: list, positions: range) -> None:
        """Remember a few positions of blocks that occur several times, to pick the longest match."""
        counts = Counter(blocks)
        repeated = {k for k, c in counts.items() if c > 1}
        repeats = self._repeats
        for key, i in [(k, i) for k, i in zip(blocks, positions) if k in repeated]:
            lst = repeats.get(key)
            if lst is None:
                repeats[key] = [i]
            elif len(lst) < MAX_CANDIDATES:
                lst.append(i)

    def __len__(self) -> int:
        return len(self.base)

    def create(self, target: bytes, max_delta_size: int = 0) -> Optional[bytes]:
        """The delta from the base to ``target``; None if it would exceed ``max_delta_size`` (when > 0)."""
        base = self.base
        get = self._index.get
        repeats = self._repeats
        blen = len(base)
        n = len(target)
        out = bytearray(encode_size(blen))
        out += encode_size(n)
        budget = max_delta_size if max_delta_size > 0 else (1 << 62)
        if len(out) > budget:
            return None

        ins = 0          # start of the pending literal run
        t = 0
        diagonal = 0     # base position minus target position of the last copy
        last = n - BLOCK
        while t <= last:
            # Scan novel bytes: one dict lookup per position.  Stop when the
            # pending literal run alone would overflow the budget.
            stop = ins + (budget - len(out))
            if stop > last:
                stop = last
            b = None
            while t <= stop:
                b = get(target[t:t + BLOCK])
                if b is not None:
                    break
                t += 1
            if b is None:
                if t > last:
                    break
                return None
            if repeats:
                b, length = self._best_candidate(target, t, b, n, t + diagonal)
            else:
                length = BLOCK + _common_prefix(target, t + BLOCK, base, b + BLOCK,
                                                min(n - t, blen - b) - BLOCK)
            # extend backwards into the literal run
            while t > ins and b > 0 and target[t - 1] == base[b - 1]:
                t -= 1
                b -= 1
                length += 1
            if b + length > MAX_OFFSET + 1:
                length = MAX_OFFSET + 1 - b
            if t > ins:
                _emit_insert(out, target, ins, t)
            _emit_copy(out, b, length)
            diagonal = b - t
            t += length
            ins = t
            if len(out) > budget:
                return None
        if ins < n:
            _emit_insert(out, target, ins, n)
        if len(out) > budget:
            return None
        return bytes(out)

    def _best_candidate(self, target: bytes, t: int, b: int, n: int,
                        expected: int) -> tuple[int, int]:
        """Where a repeated block matches best: continuing the last copy, else the longest match."""
        base = self.base
        blen = len(base)
        key = target[t:t + BLOCK]
        cands = self._repeats.get(key)
        if cands is None:
            return b, BLOCK + _common_prefix(target, t + BLOCK, base, b + BLOCK,
                                             min(n - t, blen - b) - BLOCK)
        if 0 <= expected <= blen - BLOCK and base[expected:expected + BLOCK] == key:
            cands = [expected]
        best_b, best_len = b, -1
        for c in cands:
            limit = min(n - t, blen - c) - BLOCK
            length = BLOCK + _common_prefix(target, t + BLOCK, base, c + BLOCK, limit)
            if length > best_len:
                best_b, best_len = c, length
                if length >= n - t:
                    break
        return best_b, best_len


def create_delta(base: bytes, target: bytes, max_delta_size: int = 0) -> Optional[bytes]:
    """A git delta that turns ``base`` into ``target``.

    Returns None only when ``max_delta_size`` > 0 and the delta would be larger.
    """
    return DeltaIndex(base).create(target, max_delta_size)
