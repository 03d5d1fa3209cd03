"""create_delta: round trips, git's encoding rules, size limits, and git accepting the result."""

from __future__ import annotations

import os
import random
import subprocess
import zlib

from hypothesis import given, settings, strategies as st

from puregit.delta_create import MAX_COPY, DeltaIndex, create_delta, encode_size

try:
    from puregit.delta import apply_delta
except ImportError:  # the reader's module may not exist yet
    apply_delta = None


def _varint(d: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        c = d[pos]
        pos += 1
        value |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return value, pos


def local_apply(base: bytes, delta: bytes, ops: list | None = None) -> bytes:
    """A tiny, strict delta interpreter (independent of puregit.delta)."""
    base_size, pos = _varint(delta, 0)
    size, pos = _varint(delta, pos)
    assert base_size == len(base)
    out = bytearray()
    while pos < len(delta):
        op = delta[pos]
        pos += 1
        if op & 0x80:
            off = n = 0
            for i in range(4):
                if op & (1 << i):
                    off |= delta[pos] << (8 * i)
                    pos += 1
            for i in range(3):
                if op & (0x10 << i):
                    n |= delta[pos] << (8 * i)
                    pos += 1
            n = n or 0x10000
            assert off + n <= len(base)
            out += base[off:off + n]
            if ops is not None:
                ops.append(("copy", off, n))
        else:
            assert op != 0, "opcode 0 is reserved"
            out += delta[pos:pos + op]
            pos += op
            if ops is not None:
                ops.append(("insert", op))
    assert len(out) == size
    return bytes(out)


def check(base: bytes, target: bytes) -> bytes:
    d = create_delta(base, target)
    assert local_apply(base, d) == target
    if apply_delta is not None:
        assert apply_delta(base, d) == target
    return d


def test_identical_is_one_copy():
    base = bytes(range(256)) * 10
    ops: list = []
    d = create_delta(base, base)
    assert local_apply(base, d, ops) == base
    assert ops == [("copy", 0, len(base))]


def test_empty_inputs():
    assert check(b"", b"") == b"\x00\x00"
    check(b"", b"abc")
    check(b"abc", b"")
    check(b"short", b"shorter")


def test_header_sizes():
    d = create_delta(b"x" * 300, b"y" * 5)
    assert d.startswith(encode_size(300) + encode_size(5))
    assert encode_size(300) == b"\xac\x02"


def test_inserts_are_at_most_127_bytes():
    ops: list = []
    target = os.urandom(1000)
    local_apply(b"", create_delta(b"", target), ops)
    assert all(op[0] == "insert" and op[1] <= 127 for op in ops)
    assert sum(op[1] for op in ops) == 1000


def test_long_copy_split_at_0x10000():
    base = os.urandom(3 * MAX_COPY + 5)
    ops: list = []
    d = create_delta(base, base)
    assert local_apply(base, d, ops) == base
    assert [op[2] for op in ops] == [MAX_COPY, MAX_COPY, MAX_COPY, 5]
    # a full 0x10000 copy is encoded with no size bytes
    assert d[len(encode_size(len(base))) * 2] == 0x80


def test_large_offsets_use_more_bytes():
    base = os.urandom(0x1000010)
    target = base[0x1000000:]
    ops: list = []
    local_apply(base, create_delta(base, target), ops)
    assert ops == [("copy", 0x1000000, 16)]


def test_edit_makes_small_delta():
    rnd = random.Random(5)
    base = b"".join(b"line %d %f\n" % (i, rnd.random()) for i in range(2000))
    target = base[:1000] + b"an inserted line\n" + base[1000:30000] + base[30500:]
    d = check(base, target)
    assert len(d) < 60


def test_repeated_blocks_choose_longest_match():
    block = b"0123456789abcdef"
    base = block * 50 + b"UNIQUE-TAIL-" + os.urandom(200)
    target = block * 3 + b"UNIQUE-TAIL-" + base[-200:]
    d = check(base, target)
    assert len(d) < 40


def test_max_delta_size():
    base = os.urandom(5000)
    target = os.urandom(5000)
    assert create_delta(base, target, max_delta_size=1000) is None
    d = create_delta(base, base[:2500] + b"x" + base[2500:], max_delta_size=100)
    assert d is not None and len(d) <= 100
    full = create_delta(base, target)
    assert create_delta(base, target, max_delta_size=len(full)) == full
    assert create_delta(base, target, max_delta_size=len(full) - 1) is None


def test_index_reused_for_many_targets():
    base = b"".join(b"%d\n" % i for i in range(3000))
    index = DeltaIndex(base)
    for k in range(10):
        target = base.replace(b"%d\n" % (k * 100), b"changed\n")
        assert local_apply(base, index.create(target)) == target


@st.composite
def base_and_edit(draw):
    alphabet = draw(st.sampled_from([b"ab", b"abc\n", bytes(range(256))]))
    n = draw(st.integers(0, 3000))
    seed = draw(st.integers(0, 2**32))
    rnd = random.Random(seed)
    base = bytes(rnd.choice(alphabet) for _ in range(n))
    target = bytearray(base)
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["insert", "delete", "move", "replace"]))
        i = draw(st.integers(0, len(target)))
        j = draw(st.integers(i, min(len(target), i + 500)))
        if kind == "insert":
            target[i:i] = draw(st.binary(max_size=200))
        elif kind == "delete":
            del target[i:j]
        elif kind == "replace":
            target[i:j] = draw(st.binary(max_size=50))
        else:
            chunk = bytes(target[i:j])
            del target[i:j]
            k = draw(st.integers(0, len(target)))
            target[k:k] = chunk
    return base, bytes(target)


@settings(max_examples=300, deadline=None)
@given(base_and_edit())
def test_round_trip_edits(pair):
    base, target = pair
    check(base, target)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600), st.binary(max_size=600), st.integers(0, 700))
def test_round_trip_arbitrary_with_limit(base, target, limit):
    d = create_delta(base, target, max_delta_size=limit)
    if d is None:
        assert limit > 0
    else:
        assert limit == 0 or len(d) <= limit
        assert local_apply(base, d) == target


def _git_env(tmp_path) -> dict:
    env = dict(os.environ)
    env.update(GIT_CONFIG_NOSYSTEM="1", HOME=str(tmp_path), GIT_AUTHOR_NAME="A",
               GIT_AUTHOR_EMAIL="a@example.com", GIT_COMMITTER_NAME="C",
               GIT_COMMITTER_EMAIL="c@example.com")
    return env


def test_git_accepts_our_deltas(tmp_path):
    """A hand-built pack with an OFS_DELTA made by create_delta passes git index-pack."""
    import hashlib
    import struct

    rnd = random.Random(3)
    base = b"".join(b"row %d %f\n" % (i, rnd.random()) for i in range(3000))
    target = base[:5000] + b"new row\n" + base[5100:60000] + os.urandom(300) + base[60000:]
    delta = check(base, target)

    def header(t: int, size: int) -> bytes:
        out = bytearray()
        byte = (t << 4) | (size & 15)
        size >>= 4
        while size:
            out.append(byte | 0x80)
            byte = size & 0x7F
            size >>= 7
        out.append(byte)
        return bytes(out)

    body = b"PACK" + struct.pack(">II", 2, 2)
    first = len(body)
    body += header(3, len(base)) + zlib.compress(base)
    distance = len(body) - first
    assert distance < 1 << 21
    ofs = [distance & 0x7F]
    distance >>= 7
    while distance:
        distance -= 1
        ofs.append(0x80 | (distance & 0x7F))
        distance >>= 7
    body += header(6, len(delta)) + bytes(reversed(ofs)) + zlib.compress(delta)
    body += hashlib.sha1(body).digest()
    pack = tmp_path / "t.pack"
    pack.write_bytes(body)
    env = _git_env(tmp_path)
    subprocess.run(["git", "init", "-q", "--bare", str(tmp_path / "r")], check=True, env=env)
    subprocess.run(["git", "index-pack", "--strict", str(pack)], check=True, env=env,
                   cwd=tmp_path / "r", stdout=subprocess.DEVNULL)
    out = subprocess.run(["git", "verify-pack", "-v", str(pack)], check=True, env=env,
                         stdout=subprocess.PIPE).stdout
    assert b"chain length = 1: 1 object" in out
    blob_id = hashlib.sha1(b"blob %d\0" % len(target) + target).hexdigest()
    assert blob_id.encode() in out
