"""The pure parts: have batching and ACK handling, graph walking, URLs, progress."""

from __future__ import annotations

import pytest

from puregit.client import (
    HttpGitClient, LocalGitClient, ObjectStoreGraphWalker, SSHGitClient, TCPGitClient,
    get_transport_and_path,
)
from puregit.client.negotiation import (
    MAX_IN_VAIN, MULTI_ACK, MULTI_ACK_DETAILED, SINGLE_ACK, HaveNegotiator, next_flush,
)
from puregit.client.progress import ProgressMeter, format_bytes, sanitize_progress
from puregit.errors import UnexpectedMessage, UnsupportedTransport


def sha(i: int) -> bytes:
    return b"%040x" % i


def flush_points(neg: HaveNegotiator, n: int) -> list:
    points = []
    for i in range(n):
        if neg.add_have(sha(i)):
            neg.flush_sent()
            points.append(neg.count)
    return points


def test_stateful_batches_follow_cgit():
    # 16, then doubling to 32, then +32 per block (cgit next_flush, !stateless_rpc)
    assert flush_points(HaveNegotiator(), 200) == [16, 32, 64, 96, 128, 160, 192]


def test_stateless_batches_grow_faster():
    assert flush_points(HaveNegotiator(stateless=True), 600) == [16, 32, 64, 128, 256, 512]
    assert next_flush(True, 16384) == 18022


def test_first_block_is_not_waited_for_when_stateful():
    neg = HaveNegotiator()
    for i in range(16):
        neg.add_have(sha(i))
    assert neg.flush_sent() is False      # keep one block in flight
    for i in range(16, 32):
        neg.add_have(sha(i))
    assert neg.flush_sent() is True
    assert HaveNegotiator(stateless=True).flush_sent() is True


def test_give_up_after_256_haves_without_new_ack():
    neg = HaveNegotiator(MULTI_ACK_DETAILED)
    for i in range(10):
        neg.add_have(sha(i))
    neg.unanswered = 1
    assert neg.on_ack(sha(3), b"common")
    assert not neg.should_stop
    for i in range(10, 10 + MAX_IN_VAIN):
        neg.add_have(sha(i))
    assert not neg.should_stop
    neg.add_have(sha(9999))
    assert neg.should_stop and neg.gave_up


def test_no_give_up_before_first_ack():
    neg = HaveNegotiator()
    for i in range(1000):
        neg.add_have(sha(i))
    assert not neg.should_stop


def test_ready_and_no_done():
    neg = HaveNegotiator(MULTI_ACK_DETAILED, no_done=True)
    neg.add_have(sha(1))
    neg.unanswered = 1
    neg.on_ack(sha(1), b"ready")
    neg.on_nak()
    assert neg.should_stop
    assert neg.send_done() is False       # no-done: the pack follows "ACK ready"
    assert neg.expects_more               # ...after the final plain ACK
    neg.on_ack(sha(1), None)
    assert not neg.expects_more


def test_done_after_ready_without_no_done():
    neg = HaveNegotiator(MULTI_ACK_DETAILED)
    neg.unanswered = 1
    neg.on_ack(sha(1), b"ready")
    neg.on_nak()
    assert neg.send_done() is True
    assert neg.expects_more
    neg.on_ack(sha(1), None)
    assert not neg.expects_more


def test_single_ack_final():
    neg = HaveNegotiator(SINGLE_ACK)
    neg.unanswered = 2
    assert neg.on_ack(sha(5), None)
    assert neg.should_stop
    assert neg.send_done() is True        # upload-pack waits for "done" even then
    assert not neg.expects_more


def test_clone_expects_one_nak():
    neg = HaveNegotiator(MULTI_ACK)
    assert neg.send_done()
    assert neg.expects_more
    neg.on_nak()
    assert not neg.expects_more


@pytest.mark.parametrize("mode,status", [(SINGLE_ACK, b"continue"), (MULTI_ACK, b"ready")])
def test_acks_not_allowed_by_mode_raise(mode, status):
    neg = HaveNegotiator(mode)
    with pytest.raises(UnexpectedMessage):
        neg.on_ack(sha(1), status)


def test_stray_nak_raises():
    with pytest.raises(UnexpectedMessage):
        HaveNegotiator().on_nak()


def test_graph_walker_newest_first_and_ack_prunes():
    # 1 <- 2 <- 3 <- 4 (head), and 2 <- 5 (other head)
    parents = {sha(1): [], sha(2): [sha(1)], sha(3): [sha(2)], sha(4): [sha(3)], sha(5): [sha(2)]}
    times = {sha(i): i for i in range(1, 6)}
    w = ObjectStoreGraphWalker([sha(4), sha(5)], parents.__getitem__,
                               get_commit_time=times.__getitem__)
    assert w.next() == sha(5)
    assert w.next() == sha(4)
    w.ack(sha(5))                 # 5 and 2 (and so 1) are common
    assert w.next() == sha(3)
    assert w.next() is None


def test_graph_walker_missing_and_shallow():
    def parents(s):
        if s == sha(2):
            raise KeyError(s)
        return [sha(2)] if s == sha(3) else [sha(9)]
    w = ObjectStoreGraphWalker([sha(3)], parents)
    assert list(w) == [sha(3), sha(2)]
    w = ObjectStoreGraphWalker([sha(1)], parents, shallow=[sha(1)])
    assert list(w) == [sha(1)]


@pytest.mark.parametrize("url,cls,path", [
    ("git://example.com/repo.git", TCPGitClient, "/repo.git"),
    ("git://example.com:1234/~user/r", TCPGitClient, "~user/r"),
    ("ssh://user@example.com:2222/srv/r.git", SSHGitClient, "/srv/r.git"),
    ("git+ssh://example.com/r", SSHGitClient, "/r"),
    ("user@example.com:r.git", SSHGitClient, "r.git"),
    ("example.com:/abs/r.git", SSHGitClient, "/abs/r.git"),
    ("file:///tmp/r.git", LocalGitClient, "/tmp/r.git"),
    ("/tmp/r.git", LocalGitClient, "/tmp/r.git"),
    ("./r.git", LocalGitClient, "./r.git"),
    (b"git://example.com/b", TCPGitClient, "/b"),
])
def test_get_transport_and_path(url, cls, path):
    client, p = get_transport_and_path(url)
    assert isinstance(client, cls)
    assert p == path


def test_ssh_url_details():
    client, _ = get_transport_and_path("ssh://bob@h:2222/x")
    assert (client.host, client.port, client.username) == ("h", 2222, "bob")
    client, _ = get_transport_and_path("git://h:1234/x")
    assert client.get_url("/x") == "git://h:1234/x"


def test_http_not_supported_yet():
    with pytest.raises(UnsupportedTransport, match="smart HTTP is not supported yet"):
        get_transport_and_path("https://example.com/r.git")
    with pytest.raises(UnsupportedTransport):
        HttpGitClient("http://example.com/")


def test_sanitize_progress():
    assert sanitize_progress(b"a\x1b[2Jb\x07\r\n\t") == b"a^[[2Jb^G\r\n\t"
    assert sanitize_progress(b"\x7f") == b"^?"


def test_progress_meter_format():
    lines = []
    m = ProgressMeter("Receiving objects", lines.append)
    m.update(1234, 2938, int(1.2 * 1024 * 1024))
    assert lines[-1].startswith(b"Receiving objects:  42% (1234/2938), 1.20 MiB | ")
    assert lines[-1].endswith(b"/s\r")
    m.update(2938, 2938)
    m.finish()
    assert lines[-1].endswith(b", done.\n")
    assert format_bytes(512) == "512 bytes"
    assert format_bytes(3.4 * 1024 * 1024) == "3.40 MiB"
