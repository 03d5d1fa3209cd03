"""Clients that reach ``git-upload-pack``/``git-receive-pack`` over a byte channel.

* :class:`TCPGitClient`: git:// (``git daemon``), one request pkt-line first.
* :class:`SSHGitClient`: the OpenSSH ``ssh`` program (``GIT_SSH_COMMAND``/``GIT_SSH``).
* :class:`SubprocessGitClient`: runs ``git-upload-pack`` etc. locally.
"""

from __future__ import annotations

import os
import socket
from typing import Any, Optional

from ..errors import TransportError, TransportTimeout, UnsupportedTransport
from ..wire.request import format_request_payload
from .base import GitClient
from .conn import ProcessChannel, SocketChannel

__all__ = ["TCPGitClient", "SSHGitClient", "SubprocessGitClient", "HttpGitClient",
           "TCP_GIT_PORT", "sq_quote"]

TCP_GIT_PORT = 9418


def sq_quote(value: bytes) -> bytes:
    """Quote for the remote shell the way git's ``sq_quote_buf`` does."""
    return b"'" + value.replace(b"'", b"'\\''").replace(b"!", b"'\\!'") + b"'"


def _service(service: bytes) -> bytes:
    return b"git-" + service


class TCPGitClient(GitClient):
    """git:// client: ``TCPGitClient(host, port=None)``."""

    def __init__(self, host, port: Optional[int] = None, **kwargs: Any) -> None:
        if isinstance(host, bytes):
            host = host.decode("ascii")
        self._host = host
        self._port = port if port is not None else TCP_GIT_PORT
        super().__init__(**kwargs)

    def get_url(self, path) -> str:
        p = os.fsdecode(path)
        netloc = self._host if self._port == TCP_GIT_PORT else f"{self._host}:{self._port}"
        return f"git://{netloc}/{p.lstrip('/')}"

    def _connect(self, service: bytes, path: bytes, protocol_version: Optional[int] = None):
        # ASCII names as bytes: a str makes getaddrinfo (and us) load the idna
        # codec, which imports unicodedata and stringprep.
        name = self._host.encode("ascii" if self._host.isascii() else "idna")
        try:
            sock = socket.create_connection((name, self._port), timeout=self.timeout)
        except socket.timeout as exc:
            raise TransportTimeout(f"connecting to {self._host}:{self._port} timed out") from exc
        except OSError as exc:
            raise TransportError(f"unable to connect to {self._host}:{self._port}: {exc}") from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        ch = SocketChannel(sock, self.timeout)
        host = name
        if self._port != TCP_GIT_PORT:
            host += b":%d" % self._port
        extra = [b"version=%d" % protocol_version] if protocol_version in (1, 2) else []
        ch.protocol.write_pkt_line(format_request_payload(_service(service), path, host, extra))
        return ch


def _ssh_variant(program: str) -> str:
    base = os.path.basename(program).lower()
    for suffix in (".exe",):
        if base.endswith(suffix):
            base = base[:-len(suffix)]
    if base in ("plink", "putty"):
        return "putty"
    if base == "tortoiseplink":
        return "tortoiseplink"
    return "ssh" if base == "ssh" else "simple_or_ssh"


class SSHVendor:
    """Builds and starts the ssh command line, honouring ``GIT_SSH_COMMAND`` and ``GIT_SSH``."""

    def command(self, host: str, remote_cmd: bytes, port: Optional[int] = None,
                username: Optional[str] = None, protocol_version: Optional[int] = None) -> list:
        dest = f"{username}@{host}" if username else host
        env_cmd = os.environ.get("GIT_SSH_COMMAND")
        env_prog = os.environ.get("GIT_SSH")
        opts: list = []
        if protocol_version == 2:
            opts += ["-o", "SendEnv=GIT_PROTOCOL"]
        if env_cmd:
            if port is not None:
                opts += ["-p", str(port)]
            # git runs it through the shell with the arguments appended.
            return ["/bin/sh", "-c", env_cmd + ' "$@"', "git-ssh"] + opts + [dest, os.fsdecode(remote_cmd)]
        program = env_prog or "ssh"
        variant = _ssh_variant(program)
        if variant in ("putty", "tortoiseplink"):
            opts = ["-batch"] if variant == "tortoiseplink" else []
            if port is not None:
                opts += ["-P", str(port)]
        elif port is not None:
            opts += ["-p", str(port)]
        return [program] + opts + [dest, os.fsdecode(remote_cmd)]


class SSHGitClient(GitClient):
    """ssh client via the OpenSSH ``ssh`` program: ``SSHGitClient(host, port=None, username=None)``."""

    def __init__(self, host: str, port: Optional[int] = None, username: Optional[str] = None,
                 vendor: Optional[SSHVendor] = None, **kwargs: Any) -> None:
        if host.startswith("-"):
            raise TransportError(f"strange hostname {host!r} blocked")
        if username is not None and username.startswith("-"):
            raise TransportError(f"strange username {username!r} blocked")
        self.host = host
        self.port = port
        self.username = username
        self.vendor = vendor or SSHVendor()
        super().__init__(**kwargs)

    def get_url(self, path) -> str:
        p = os.fsdecode(path)
        user = f"{self.username}@" if self.username else ""
        port = f":{self.port}" if self.port else ""
        return f"ssh://{user}{self.host}{port}/{p.lstrip('/')}"

    def _connect(self, service: bytes, path: bytes, protocol_version: Optional[int] = None):
        if path.startswith(b"-"):
            raise TransportError(f"strange pathname {path!r} blocked")
        remote_cmd = _service(service) + b" " + sq_quote(path)
        argv = self.vendor.command(self.host, remote_cmd, self.port, self.username,
                                   protocol_version if service == b"upload-pack" else None)
        env = dict(os.environ)
        if protocol_version == 2 and service == b"upload-pack":
            env["GIT_PROTOCOL"] = "version=2"
        return _spawn(argv, env, self.timeout)


class SubprocessGitClient(GitClient):
    """Runs the local ``git-upload-pack``/``git-receive-pack`` programs."""

    def __init__(self, git_command: Optional[str] = None, **kwargs: Any) -> None:
        self.git_command = git_command or "git"
        super().__init__(**kwargs)

    def get_url(self, path) -> str:
        return "file://" + os.path.abspath(os.fsdecode(path))

    def _connect(self, service: bytes, path: bytes, protocol_version: Optional[int] = None):
        if path.startswith(b"-"):
            raise TransportError(f"strange pathname {path!r} blocked")
        argv = [self.git_command, service.decode("ascii"), os.fsdecode(path)]
        env = dict(os.environ)
        if protocol_version == 2 and service == b"upload-pack":
            env["GIT_PROTOCOL"] = "version=2"
        return _spawn(argv, env, self.timeout)


def _spawn(argv: list, env: dict, timeout: Optional[float]) -> ProcessChannel:
    import subprocess  # only ssh and local-process transports need it
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env, bufsize=0)
    except OSError as exc:
        raise TransportError(f"cannot run {argv[0]!r}: {exc}") from exc
    return ProcessChannel(proc, timeout)


class HttpGitClient(GitClient):
    """Placeholder until the smart-HTTP issue lands."""

    def __init__(self, base_url: str = "", *args: Any, **kwargs: Any) -> None:
        raise UnsupportedTransport("smart HTTP is not supported yet")

    @classmethod
    def from_parsedurl(cls, *args: Any, **kwargs: Any) -> "HttpGitClient":
        raise UnsupportedTransport("smart HTTP is not supported yet")
