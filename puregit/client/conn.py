"""Byte channels under the protocol: a socket or a child process's pipes.

Both buffer writes until the next read (so a block of ``have`` lines goes out
in one system call), read with a timeout (:class:`TransportTimeout` instead
of hanging forever) and turn a vanished peer into :class:`HangupException`
carrying what the peer wrote on stderr.
"""

from __future__ import annotations

import os
import select
import socket
import threading
from typing import Optional

from ..errors import HangupException, TransportError, TransportTimeout
from ..protocol import Protocol

__all__ = ["Channel", "SocketChannel", "ProcessChannel"]

_READ_SIZE = 1 << 16


class Channel:
    """Buffered, timed, two-way byte channel; ``protocol`` wraps it in pkt-lines."""

    def __init__(self, timeout: Optional[float] = None) -> None:
        self.timeout = timeout
        self._rbuf = bytearray()
        self._wbuf: list = []
        self._eof = False
        self.protocol = Protocol(self.read, self.write, close=self.close)

    # -- subclasses
    def _recv(self, n: int) -> bytes:
        raise NotImplementedError

    def _send(self, data: bytes) -> None:
        raise NotImplementedError

    def stderr_lines(self) -> list:
        return []

    def close(self) -> None:
        pass

    # -- shared
    def write(self, data: bytes) -> None:
        self._wbuf.append(bytes(data))
        if sum(map(len, self._wbuf)) >= _READ_SIZE:
            self.flush()

    def flush(self) -> None:
        if not self._wbuf:
            return
        data = b"".join(self._wbuf)
        self._wbuf = []
        try:
            self._send(data)
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise HangupException(self.stderr_lines()) from exc

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes (fewer if that is what arrived); b"" at EOF."""
        self.flush()
        if self._rbuf:
            out = bytes(self._rbuf[:n])
            del self._rbuf[:n]
            return out
        if self._eof:
            return b""
        data = self._recv(max(n, _READ_SIZE))
        if not data:
            self._eof = True
            return b""
        if len(data) > n:
            self._rbuf += data[n:]
            return data[:n]
        return data

    read1 = read


class SocketChannel(Channel):
    """A connected TCP socket."""

    def __init__(self, sock: socket.socket, timeout: Optional[float] = None) -> None:
        self.sock = sock
        sock.settimeout(timeout)
        super().__init__(timeout)

    def _recv(self, n: int) -> bytes:
        try:
            return self.sock.recv(n)
        except socket.timeout as exc:
            raise TransportTimeout(f"no data from the server for {self.timeout} s") from exc
        except ConnectionResetError:
            return b""

    def _send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except socket.timeout as exc:
            raise TransportTimeout(f"server did not accept data for {self.timeout} s") from exc

    def close(self) -> None:
        try:
            self.flush()
        except (TransportError, HangupException, OSError):
            pass
        try:
            self.sock.close()
        except OSError:
            pass


class ProcessChannel(Channel):
    """stdin/stdout of a child process (ssh, git-upload-pack); stderr is collected."""

    def __init__(self, proc: "subprocess.Popen", timeout: Optional[float] = None,
                 stderr_sink=None) -> None:
        self.proc = proc
        self._stderr: list = []
        self._stderr_sink = stderr_sink
        self._out_fd = proc.stdout.fileno()
        self._thread = None
        if proc.stderr is not None:
            self._thread = threading.Thread(target=self._drain_stderr, daemon=True)
            self._thread.start()
        super().__init__(timeout)

    def _drain_stderr(self) -> None:
        for line in iter(self.proc.stderr.readline, b""):
            self._stderr.append(line.rstrip(b"\n"))
            if self._stderr_sink is not None:
                try:
                    self._stderr_sink(line)
                except Exception:  # a broken sink must not kill the transfer
                    pass

    def stderr_lines(self) -> list:
        """What the peer wrote on stderr (waits briefly for a dying peer to finish)."""
        if self._thread is not None:
            import subprocess  # (lazily: git:// clients never spawn anything)
            try:
                self.proc.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                pass
            if self.proc.poll() is not None:
                self._thread.join(1.0)
        return list(self._stderr)

    def _recv(self, n: int) -> bytes:
        if self.timeout is not None:
            ready, _, _ = select.select([self._out_fd], [], [], self.timeout)
            if not ready:
                raise TransportTimeout(f"no data from the remote for {self.timeout} s")
        return os.read(self._out_fd, n)

    def _send(self, data: bytes) -> None:
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def close(self) -> None:
        try:
            self.flush()
        except (TransportError, HangupException, OSError):
            pass
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass
        import subprocess
        try:
            self.proc.wait(timeout=self.timeout or 30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self._thread is not None:
            self._thread.join(1.0)
        if self.proc.stderr is not None:
            try:
                self.proc.stderr.close()
            except OSError:
                pass
