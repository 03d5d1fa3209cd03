"""A hostile or broken server: typed errors or warnings, and the local repository unchanged."""

from __future__ import annotations

import os
import socket
import threading
import warnings

import pytest

from helpers import git
from puregit import porcelain
from puregit.client import TCPGitClient, UnsafeRefWarning
from puregit.errors import (
    CorruptPackError, ErrPktError, HangupException, PackError, PktLineError, ProtocolError,
    TransportTimeout, UnexpectedEOF, UnexpectedMessage,
)
from puregit.pktline import pkt_line
from puregit.repo import Repo
from puregit.sideband import mux

CAPS = (b"multi_ack_detailed side-band-64k thin-pack ofs-delta shallow no-progress "
        b"include-tag agent=fake/1")


def read_pkt(sock_file):
    head = sock_file.read(4)
    if len(head) < 4:
        return None
    n = int(head, 16)
    if n < 4:
        return b""
    return sock_file.read(n - 4)


class FakeServer:
    """Accepts connections; ``script(conn_file, send)`` plays the server's part."""

    def __init__(self, script) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(5)
        self.port = self.sock.getsockname()[1]
        self.script = script
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop_event.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with conn:
                f = conn.makefile("rb")
                read_pkt(f)  # the git:// request line
                try:
                    self.script(f, conn.sendall)
                except OSError:
                    pass
                f.close()
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.stop_event.set()
        self.sock.close()
        self.thread.join(2)


@pytest.fixture
def fake():
    servers = []

    def make(script):
        s = FakeServer(script)
        servers.append(s)
        return TCPGitClient("127.0.0.1", s.port, timeout=5)
    yield make
    for s in servers:
        s.close()


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """A commit id and a valid pack holding it."""
    path = str(tmp_path_factory.mktemp("sample") / "r")
    git("init", "-q", path)
    with open(os.path.join(path, "a"), "w") as f:
        f.write("hello\n")
    git("add", "a", cwd=path)
    git("commit", "-q", "-m", "one", cwd=path)
    head = git("rev-parse", "HEAD", cwd=path).strip()
    objs = git("rev-list", "--objects", "HEAD", cwd=path)
    pack = git("pack-objects", "--stdout", "-q", cwd=path, input=objs)
    return head, pack


def advertise(head, extra_refs=()):
    out = pkt_line(head + b" HEAD\0" + CAPS + b"\n")
    out += pkt_line(head + b" refs/heads/master\n")
    for name in extra_refs:
        out += pkt_line(head + b" " + name + b"\n")
    return out + b"0000"


def wait_for_done(f):
    while True:
        pkt = read_pkt(f)
        if pkt is None or pkt == b"done\n":
            return


def serve_pack(head, pack_bytes, progress=b""):
    def script(f, send):
        send(advertise(head))
        wait_for_done(f)
        out = pkt_line(b"NAK\n")
        if progress:
            out += mux(2, progress)
        out += mux(1, pack_bytes) + b"0000"
        send(out)
    return script


def snapshot(repo_path: str) -> list:
    out = []
    for root, dirs, files in os.walk(os.path.join(repo_path, ".git")):
        for name in files:
            p = os.path.join(root, name)
            out.append((os.path.relpath(p, repo_path), os.path.getsize(p)))
    return sorted(out)


@pytest.fixture
def local_repo(tmp_path):
    r = Repo.init(str(tmp_path / "local"), mkdir=True)
    r.close()
    return str(tmp_path / "local")


def test_bad_pkt_line(fake, local_repo):
    client = fake(lambda f, send: send(b"zz!!garbage"))
    before = snapshot(local_repo)
    with pytest.raises(PktLineError):
        client.fetch("/", Repo(local_repo))
    assert snapshot(local_repo) == before


def test_err_packet(fake, local_repo):
    client = fake(lambda f, send: send(pkt_line(b"ERR access denied: no such repo\n")))
    with pytest.raises(ErrPktError) as info:
        client.get_refs("/")
    assert "access denied" in str(info.value)
    before = snapshot(local_repo)
    with pytest.raises(ErrPktError):
        client.fetch("/", Repo(local_repo))
    assert snapshot(local_repo) == before


def test_corrupt_pack_leaves_repo_unchanged(fake, sample, local_repo):
    head, pack = sample
    bad = bytearray(pack)
    bad[len(bad) // 2] ^= 0xFF
    for broken in (bytes(bad), pack[:-25], pack[:-20] + b"\0" * 20, b"PACK\0\0\0\x09" + pack[8:]):
        client = fake(serve_pack(head, broken))
        before = snapshot(local_repo)
        with pytest.raises((PackError, ProtocolError)):
            client.fetch("/", Repo(local_repo))
        assert snapshot(local_repo) == before
    # and the good pack works, for contrast
    client = fake(serve_pack(head, pack))
    r = Repo(local_repo)
    client.fetch("/", r)
    assert head in r.object_store


def test_dangerous_ref_names_skipped(fake, sample, tmp_path):
    head, pack = sample
    evil = [b"refs/heads/../../config", b"refs/heads/\x1b[31mred", b"refs/heads/a..b",
            b"refs/heads/x.lock", b"refs/heads/ok"]

    def script(f, send):
        send(advertise(head, evil))
        wait_for_done(f)
        send(pkt_line(b"NAK\n") + mux(1, pack) + b"0000")

    client = fake(script)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        refs = client.get_refs("/").refs
    assert b"refs/heads/ok" in refs
    assert not any(name in refs for name in evil[:-1])
    assert sum(issubclass(w.category, UnsafeRefWarning) for w in caught) == 4
    assert all(b"\x1b" not in str(w.message).encode() for w in caught)
    target = str(tmp_path / "clone")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnsafeRefWarning)
        porcelain.clone(f"git://127.0.0.1:{client._port}/", target, quiet=True, bare=True).close()
    refs = os.listdir(os.path.join(target, "refs", "heads"))
    packed = open(os.path.join(target, "packed-refs"), "rb").read()
    assert b"red" not in packed and b"config" not in packed and not refs or refs == []
    assert b"refs/heads/ok" in packed


def test_server_never_answers_times_out(fake, local_repo):
    client = fake(lambda f, send: threading.Event().wait(3))
    client.timeout = 0.5
    before = snapshot(local_repo)
    with pytest.raises(TransportTimeout):
        client.fetch("/", Repo(local_repo))
    assert snapshot(local_repo) == before


def test_server_stalls_mid_pack(fake, sample, local_repo):
    head, pack = sample

    def script(f, send):
        send(advertise(head))
        wait_for_done(f)
        send(pkt_line(b"NAK\n") + mux(1, pack[:30]))
        threading.Event().wait(3)

    client = fake(script)
    client.timeout = 0.5
    before = snapshot(local_repo)
    with pytest.raises(TransportTimeout):
        client.fetch("/", Repo(local_repo))
    assert snapshot(local_repo) == before


def test_hangup_mid_pack(fake, sample, local_repo):
    head, pack = sample

    def script(f, send):
        send(advertise(head))
        wait_for_done(f)
        send(pkt_line(b"NAK\n") + mux(1, pack[:30]))

    client = fake(script)
    before = snapshot(local_repo)
    with pytest.raises((UnexpectedEOF, HangupException)):
        client.fetch("/", Repo(local_repo))
    assert snapshot(local_repo) == before


def test_escape_sequences_in_progress_are_sanitized(fake, sample, local_repo):
    head, pack = sample
    nasty = b"Counting objects: 3\r\x1b]0;owned\x07\x1b[2J\x1b[31mred\x9b\n"
    client = fake(serve_pack(head, pack, progress=nasty))
    seen = []
    client.fetch("/", Repo(local_repo), progress=seen.append)
    text = b"".join(seen)
    assert b"\x1b" not in text and b"\x07" not in text
    assert b"^[]0;owned^G" in text
    assert b"Counting objects: 3\r" in text


@pytest.mark.parametrize("reply", [
    b"ACK zzzz continue\n", b"ACK " + b"a" * 40 + b" sideways\n", b"WAT\n",
])
def test_malformed_negotiation_reply(fake, sample, local_repo, reply):
    head, pack = sample

    def script(f, send):
        send(advertise(head))
        wait_for_done(f)
        send(pkt_line(reply))

    client = fake(script)
    with pytest.raises(UnexpectedMessage):
        client.fetch("/", Repo(local_repo))


def test_band_3_error_is_remote_error(fake, sample, local_repo):
    head, pack = sample

    def script(f, send):
        send(advertise(head))
        wait_for_done(f)
        send(pkt_line(b"NAK\n") + mux(1, pack[:20]) + mux(3, b"upload-pack: out of memory"))

    client = fake(script)
    before = snapshot(local_repo)
    with pytest.raises(ProtocolError) as info:
        client.fetch("/", Repo(local_repo))
    assert "out of memory" in str(info.value)
    assert snapshot(local_repo) == before


def test_corrupt_pack_is_typed(fake, sample, local_repo):
    head, pack = sample
    client = fake(serve_pack(head, b"PACK\0\0\0\x02\0\0\0\x01" + b"\xff" * 40))
    with pytest.raises(CorruptPackError):
        client.fetch("/", Repo(local_repo))
