"""Have/ACK negotiation of fetch, as pure state (no sockets, no object store).

This follows cgit's ``fetch-pack.c``: haves go out in blocks; the first block
holds 16 haves, later blocks grow as ``next_flush()`` does (double up to 32,
then +32 per block when stateful; double up to 16384 then +10% when
stateless, i.e. protocol v2 or smart HTTP).  A stateful client keeps one
block "in flight": it does not wait for the answer to its first block before
sending the second.  After 256 haves without a new common commit the client
gives up (only once the server has acknowledged something, as cgit does).

The I/O driver asks :meth:`HaveNegotiator.add_have` whether a block is full,
sends the flush, then (when :meth:`HaveNegotiator.flush_sent` says so) reads
ACK/NAK lines and feeds them to :meth:`on_ack` / :meth:`on_nak`.  Malformed
replies never reach this class: the wire decoders raise typed errors first,
and unexpected sequences here raise :class:`UnexpectedMessage`, never assert.
"""

from __future__ import annotations

from typing import Optional

from ..errors import UnexpectedMessage

__all__ = ["HaveNegotiator", "next_flush", "INITIAL_FLUSH", "PIPESAFE_FLUSH", "LARGE_FLUSH",
           "MAX_IN_VAIN", "SINGLE_ACK", "MULTI_ACK", "MULTI_ACK_DETAILED"]

INITIAL_FLUSH = 16
PIPESAFE_FLUSH = 32
LARGE_FLUSH = 16384
MAX_IN_VAIN = 256

SINGLE_ACK, MULTI_ACK, MULTI_ACK_DETAILED = 0, 1, 2


def next_flush(stateless: bool, count: int) -> int:
    """Number of haves sent when the next flush is due (cgit's ``next_flush``)."""
    if stateless:
        return count * 2 if count < LARGE_FLUSH else count * 11 // 10
    return count * 2 if count < PIPESAFE_FLUSH else count + PIPESAFE_FLUSH


class HaveNegotiator:
    """Counts haves and ACKs; tells the driver when to flush, wait, stop and say ``done``."""

    def __init__(self, ack_mode: int = MULTI_ACK_DETAILED, stateless: bool = False,
                 no_done: bool = False) -> None:
        self.ack_mode = ack_mode
        self.stateless = stateless
        self.no_done = no_done and ack_mode == MULTI_ACK_DETAILED
        self.count = 0            # haves sent so far
        self.flush_at = INITIAL_FLUSH
        self.in_vain = 0          # haves since the last new common commit
        self.unanswered = 0       # flushes whose ACK/NAK round we have not read
        self.got_continue = False
        self.got_ready = False
        self.got_final_ack = False   # plain "ACK <oid>": negotiation is over
        self.common: set = set()
        self.stopped = False
        self._round_has_acks = False

    # -- sending -------------------------------------------------------------
    def add_have(self, sha: bytes) -> bool:
        """Record one have; True when a flush is due now."""
        if self.stopped:
            raise UnexpectedMessage("have sent after negotiation stopped")
        self.count += 1
        self.in_vain += 1
        return self.count >= self.flush_at

    def flush_sent(self) -> bool:
        """Record a flush; True if the driver should now read one ACK/NAK round."""
        self.flush_at = next_flush(self.stateless, self.count)
        self.unanswered += 1
        if not self.stateless and self.count == INITIAL_FLUSH:
            return False  # keep one block in flight, as cgit does
        return True

    # -- receiving -------------------------------------------------------------
    def on_ack(self, sha: bytes, status: Optional[bytes]) -> bool:
        """Feed one ACK line; True if ``sha`` is newly known to be common."""
        if status is None:
            # Single-ack servers ACK the first common commit; multi-ack ones
            # send a plain ACK only as their final answer.
            self.got_final_ack = True
            self.unanswered = 0
            self.stopped = True
            new = sha not in self.common
            self.common.add(sha)
            return new
        if self.ack_mode == SINGLE_ACK:
            raise UnexpectedMessage(f"ACK {status.decode('ascii', 'replace')} without multi_ack")
        if status == b"ready":
            if self.ack_mode != MULTI_ACK_DETAILED:
                raise UnexpectedMessage("ACK ready without multi_ack_detailed")
            self.got_ready = True
        new = sha not in self.common
        if not (self.stateless and status == b"common" and not new):
            self.in_vain = 0
        self.got_continue = True
        self.common.add(sha)
        return new

    def on_nak(self) -> None:
        """A NAK ends one round."""
        if self.unanswered <= 0:
            raise UnexpectedMessage("NAK without an outstanding flush")
        self.unanswered -= 1

    @property
    def should_stop(self) -> bool:
        """Whether to stop sending haves (final ACK, ready, or gave up)."""
        if self.stopped or self.got_ready:
            return True
        if self.got_continue and self.in_vain > MAX_IN_VAIN:
            return True
        return False

    @property
    def gave_up(self) -> bool:
        return self.got_continue and self.in_vain > MAX_IN_VAIN and not self.got_ready

    # -- finishing -----------------------------------------------------------
    def send_done(self) -> bool:
        """Whether to send ``done``: always, except after ``ready`` with no-done.

        A single-ack server that already ACKed still waits for ``done`` before
        it sends the pack, so cgit sends it then too.
        """
        self.stopped = True
        if self.got_ready and self.no_done and not self.got_final_ack:
            self._await_final = True
            return False
        if not self.got_final_ack:
            self.unanswered += 1   # the answer to "done": NAK or the final ACK
        return True

    @property
    def expects_more(self) -> bool:
        """Whether ACK/NAK lines are still due before the pack starts."""
        if self.got_final_ack:
            return False
        if getattr(self, "_await_final", False):
            return True
        return self.unanswered > 0
