"""Benchmark: accept `git push --mirror` of a whole repository, puregit daemon vs git daemon.

Restores ../shared/benchdata/*.bundle into bench/work/ (as the other
benchmarks do), then for each server: start it on a free port with
receive-pack enabled, push the whole repository into an empty bare repository
with the real git client, and time the push.  Prints the ratio puregit / git
and checks the result with `git fsck`.

Usage: python bench/bench_receive.py [--bundle NAME] [--runs N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
WORK = os.path.join(HERE, "work")
BENCHDATA = os.path.join(HERE, "..", "..", "shared", "benchdata")
ENV = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", LC_ALL="C")
ROOT = os.path.dirname(HERE)
# puregit runs from byte-code compiled once (see bench_server.puregit_env):
# this environment sets PYTHONDONTWRITEBYTECODE, which an installed package
# does not suffer from.
PG_ENV = dict(ENV, PYTHONPATH=ROOT, PYTHONPYCACHEPREFIX=os.path.join(WORK, "pycache"))
PG_ENV.pop("PYTHONDONTWRITEBYTECODE", None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def restore(name: str) -> str:
    path = os.path.join(WORK, name + ".git")
    if not os.path.isdir(path):
        os.makedirs(WORK, exist_ok=True)
        subprocess.run(["git", "clone", "-q", "--mirror",
                        os.path.join(BENCHDATA, name + ".bundle"), path], check=True, env=ENV)
    return path


def wait_port(port: int, proc: subprocess.Popen) -> None:
    for _ in range(200):
        if proc.poll() is not None:
            raise RuntimeError("server exited")
        try:
            socket.create_connection(("127.0.0.1", port), 0.1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not start")


def start(kind: str, base: str, port: int) -> subprocess.Popen:
    if kind == "git":
        cmd = ["git", "daemon", "--reuseaddr", f"--base-path={base}", "--export-all",
               "--enable=receive-pack", "--listen=127.0.0.1", f"--port={port}", base]
    else:
        cmd = [sys.executable, "-m", "puregit", "daemon", "--base-path", base, "--export-all",
               "--enable=receive-pack", "--listen", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(cmd, env=ENV if kind == "git" else PG_ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, proc)
    return proc


def push_once(kind: str, source: str, scratch: str) -> float:
    base = os.path.join(scratch, kind)
    shutil.rmtree(base, ignore_errors=True)
    os.makedirs(base)
    target = os.path.join(base, "target.git")
    subprocess.run(["git", "init", "-q", "--bare", target], check=True, env=ENV)
    # dulwich's own history has `.git` tree entries (test data): puregit refuses
    # them on every push unless told otherwise, git only with receive.fsckObjects.
    subprocess.run(["git", "config", "receive.fsck.hasDotgit", "ignore"], cwd=target,
                   check=True, env=ENV)
    port = free_port()
    proc = start(kind, base, port)
    try:
        t0 = time.perf_counter()
        subprocess.run(["git", "push", "-q", "--mirror", f"git://127.0.0.1:{port}/target.git"],
                       cwd=source, check=True, env=ENV, stdout=subprocess.DEVNULL)
        elapsed = time.perf_counter() - t0
    finally:
        proc.terminate()
        proc.wait()
    subprocess.run(["git", "fsck", "--connectivity-only"],
                   cwd=os.path.join(base, "target.git"), check=True, env=ENV)
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", action="append")
    ap.add_argument("--runs", type=int, default=1)
    args = ap.parse_args()
    names = args.bundle or ["dulwich", "git-v2.0.0"]
    scratch = os.path.join(WORK, "receive")
    subprocess.run([sys.executable, "-m", "compileall", "-q", os.path.join(ROOT, "puregit")],
                   env=PG_ENV, check=True, stdout=subprocess.DEVNULL)
    for name in names:
        source = restore(name)
        best = {}
        for kind in ("git", "puregit"):
            best[kind] = min(push_once(kind, source, scratch) for _ in range(args.runs))
        print(f"{name}: push --mirror into git daemon {best['git']:.2f} s, "
              f"into puregit daemon {best['puregit']:.2f} s, ratio {best['puregit'] / best['git']:.2f}x")


if __name__ == "__main__":
    main()
