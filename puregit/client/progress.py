"""Progress text: make the server's safe for a terminal, and draw our own like git."""

from __future__ import annotations

import re
import time
from typing import Callable, Optional

__all__ = ["sanitize_progress", "ProgressMeter", "format_bytes"]

_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def sanitize_progress(data: bytes) -> bytes:
    """Show control characters (ESC, BEL, ...) in caret notation; keep CR, LF and TAB.

    A server must not be able to move the cursor, retitle the terminal or
    hide text from the user by embedding escape sequences in its progress.
    """
    return _CONTROL.sub(lambda m: b"^" + bytes([m.group()[0] ^ 0x40]), data)


def format_bytes(n: float) -> str:
    """git's ``strbuf_humanise_bytes``: 1.20 MiB, 512 bytes."""
    if n >= 1 << 30:
        return f"{n / (1 << 30):.2f} GiB"
    if n >= 1 << 20:
        return f"{n / (1 << 20):.2f} MiB"
    if n >= 1 << 10:
        return f"{n / (1 << 10):.2f} KiB"
    return f"{int(n)} byte" + ("" if n == 1 else "s")


class ProgressMeter:
    """``Receiving objects:  42% (1234/2938), 1.20 MiB | 3.40 MiB/s`` lines.

    ``update(done, total, nbytes)`` redraws at most every 100 ms (and whenever
    the percentage changes); ``finish()`` prints the ``, done.`` line.
    """

    def __init__(self, title: str, write: Callable[[bytes], object], throughput: bool = True) -> None:
        self.title = title
        self.write = write
        self.throughput = throughput
        self.start = time.monotonic()
        self._last_pct = -1
        self._last_t = 0.0
        self.done = 0
        self.total: Optional[int] = None
        self.nbytes = 0

    def _line(self) -> str:
        if self.total:
            pct = self.done * 100 // self.total
            text = f"{self.title}: {pct:3d}% ({self.done}/{self.total})"
        else:
            text = f"{self.title}: {self.done}"
        if self.throughput and self.nbytes:
            elapsed = max(time.monotonic() - self.start, 1e-6)
            text += f", {format_bytes(self.nbytes)} | {format_bytes(self.nbytes / elapsed)}/s"
        return text

    def update(self, done: int, total: Optional[int] = None, nbytes: Optional[int] = None) -> None:
        self.done = done
        if total is not None:
            self.total = total
        if nbytes is not None:
            self.nbytes = nbytes
        pct = done * 100 // self.total if self.total else done
        now = time.monotonic()
        if pct != self._last_pct or now - self._last_t > 0.1:
            self._last_pct = pct
            self._last_t = now
            self.write((self._line() + "\r").encode())

    def finish(self) -> None:
        self.write((self._line() + ", done.\n").encode())
