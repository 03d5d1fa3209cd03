"""Servers the client tests talk to: a real ``git daemon`` and a real OpenSSH ``sshd``.

Not a conftest (the tests import the fixtures they use explicitly).
Every server listens on 127.0.0.1 on a free high port and is stopped by PID.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time

import pytest

from helpers import GIT_ENV, git


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server did not listen on port {port}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class GitDaemon:
    def __init__(self, base: str) -> None:
        self.base = base
        self.port = free_port()
        env = dict(os.environ)
        env.update(GIT_ENV)
        self.proc = subprocess.Popen(
            ["git", "daemon", "--reuseaddr", f"--base-path={base}", "--export-all",
             "--enable=receive-pack", "--enable=upload-archive", "--listen=127.0.0.1",
             f"--port={self.port}", base],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        wait_for_port(self.port, self.proc)

    def url(self, name: str) -> str:
        return f"git://127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        stop(self.proc)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    base = str(tmp_path_factory.mktemp("daemon"))
    d = GitDaemon(base)
    yield d
    d.stop()


class SSHServer:
    """sshd on a high port with generated host and user keys; ``env`` is for the client."""

    def __init__(self, workdir: str) -> None:
        sshd = shutil.which("sshd") or "/usr/sbin/sshd"
        if not os.path.exists(sshd) or not shutil.which("ssh") or not shutil.which("ssh-keygen"):
            pytest.skip("OpenSSH (sshd/ssh/ssh-keygen) is not installed")
        self.dir = workdir
        host_key = os.path.join(workdir, "host_ed25519")
        self.user_key = os.path.join(workdir, "user_ed25519")
        for key in (host_key, self.user_key):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
        auth = os.path.join(workdir, "authorized_keys")
        shutil.copy(self.user_key + ".pub", auth)
        os.chmod(auth, 0o600)
        self.port = free_port()
        cfg = os.path.join(workdir, "sshd_config")
        with open(cfg, "w") as f:
            f.write(f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {host_key}\n"
                    f"AuthorizedKeysFile {auth}\nStrictModes no\nUsePAM no\n"
                    "PasswordAuthentication no\nPubkeyAuthentication yes\n"
                    "PermitRootLogin yes\nAcceptEnv GIT_PROTOCOL\n"
                    f"PidFile {os.path.join(workdir, 'sshd.pid')}\n"
                    "LogLevel ERROR\n")
        os.makedirs("/run/sshd", exist_ok=True)
        self.proc = subprocess.Popen([sshd, "-D", "-e", "-f", cfg],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_for_port(self.port, self.proc)
        except RuntimeError as exc:
            err = self.proc.stderr.read().decode(errors="replace") if self.proc.poll() is not None else ""
            stop(self.proc)
            pytest.skip(f"sshd could not start: {exc} {err}")
        self.user = os.environ.get("USER") or __import__("getpass").getuser()
        self.ssh_command = (f"ssh -i {self.user_key} -o UserKnownHostsFile=/dev/null "
                            f"-o StrictHostKeyChecking=no -o BatchMode=yes -o LogLevel=ERROR "
                            f"-p {self.port}")

    def url(self, path: str) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        stop(self.proc)


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    s = SSHServer(str(tmp_path_factory.mktemp("sshd")))
    yield s
    s.stop()


def bare_copy(src: str, dst: str) -> str:
    git("clone", "-q", "--bare", src, dst)
    return dst


def refs_of(path: str) -> dict:
    out = git("for-each-ref", "--format=%(objectname) %(refname)", cwd=path)
    refs = {}
    for line in out.splitlines():
        sha, name = line.split(b" ", 1)
        refs[name] = sha
    return refs


def count_pack_objects(data: bytes) -> int:
    assert data[:4] == b"PACK", data[:16]
    return int.from_bytes(data[8:12], "big")
