"""A function called every few seconds from a thread, for as long as a block runs."""

from __future__ import annotations

import contextlib
import threading
from typing import Callable, Iterator

__all__ = ["ticking"]


@contextlib.contextmanager
def ticking(seconds: float, tick: Callable[[], object], name: str = "ticker") -> Iterator[None]:
    """Call ``tick()`` every ``seconds`` while the body runs; a ``tick`` that returns
    False stops the calls.  The thread is gone when the body is left."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(seconds):
            if tick() is False:
                return
    t = threading.Thread(target=loop, name=name, daemon=True)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join()
