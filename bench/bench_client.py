"""Benchmark: puregit's client against git's, both talking to ``git daemon``.

For every ``benchdata/*.bundle`` (restored once with ``git clone --mirror``
under ``bench/work/client/``) this times, in fresh processes measured with
``/usr/bin/time`` (wall seconds, peak RSS):

* clone --bare and clone (with checkout): ``git clone`` vs ``puregit clone``;
* an incremental fetch of the last N commits of the default branch;
* a push of the whole repository (every ref) to an empty bare repository
  served with ``--enable=receive-pack``: ``git push --mirror`` vs ``puregit push --mirror``.

Ratios are puregit / git (targets: time <= 1.5, memory <= 2).  puregit runs
from byte-code compiled once beforehand (as a pip install does), in
``bench/work/pycache``, even where PYTHONDONTWRITEBYTECODE is set.

Usage: python bench/bench_client.py [--only NAME] [--runs N] [--skip push,fetch,...]
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BENCHDATA = os.path.normpath(os.path.join(ROOT, "..", "shared", "benchdata"))
WORK = os.path.join(HERE, "work", "client")
PYCACHE = os.path.join(HERE, "work", "pycache")
FETCH_BACK = 400   # commits the incremental fetch has to bring


def env() -> dict:
    e = dict(os.environ)
    e["PYTHONPATH"] = ROOT + os.pathsep + e.get("PYTHONPATH", "")
    # Measure puregit as installed (pip writes .pyc files), not recompiled from
    # source by every run because the environment sets PYTHONDONTWRITEBYTECODE;
    # main() compiles it once into this cache, outside the source tree.
    e.pop("PYTHONDONTWRITEBYTECODE", None)
    e["PYTHONPYCACHEPREFIX"] = PYCACHE
    e.update({"GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b",
              "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@b", "LC_ALL": "C"})
    return e


def run(argv, cwd=None, check=True) -> subprocess.CompletedProcess:
    p = subprocess.run(argv, cwd=cwd, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if check and p.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{p.stderr.decode(errors='replace')}")
    return p


def timed(argv, cwd=None) -> tuple:
    """(wall seconds, peak RSS in MiB) of a command, from /usr/bin/time."""
    out = os.path.join(WORK, ".time")
    p = subprocess.run(["/usr/bin/time", "-f", "%e %M", "-o", out] + argv, cwd=cwd, env=env(),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{p.stderr.decode(errors='replace')[-3000:]}")
    wall, rss = open(out).read().split()[-2:]
    return float(wall), int(rss) / 1024


def puregit(*args) -> list:
    return [sys.executable, "-m", "puregit", *args]


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Daemon:
    def __init__(self, base: str) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            ["git", "daemon", "--reuseaddr", f"--base-path={base}", "--export-all",
             "--enable=receive-pack", "--listen=127.0.0.1", f"--port={self.port}", base],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env())
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("git daemon did not start")

    def url(self, name: str) -> str:
        return f"git://127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait()


def best(fn, runs: int) -> tuple:
    results = [fn() for _ in range(runs)]
    return min(r[0] for r in results), min(r[1] for r in results)


def fresh(path: str) -> str:
    shutil.rmtree(path, ignore_errors=True)
    return path


def bench_repo(name: str, daemon: Daemon, runs: int, skip: set) -> list:
    rows = []
    url = daemon.url(name + ".git")
    scratch = os.path.join(WORK, "scratch")
    os.makedirs(scratch, exist_ok=True)

    def pair(label, git_argv_fn, pg_argv_fn, cwd_fn=None):
        g = best(lambda: timed(git_argv_fn(), cwd_fn("git") if cwd_fn else None), runs)
        p = best(lambda: timed(pg_argv_fn(), cwd_fn("pg") if cwd_fn else None), runs)
        rows.append((name, label, g, p))
        print(f"  {label:<18} git {g[0]:7.2f} s {g[1]:7.1f} MiB | puregit {p[0]:7.2f} s "
              f"{p[1]:7.1f} MiB | time x{p[0] / g[0]:.2f}  mem x{p[1] / g[1]:.2f}", flush=True)

    if "clone-bare" not in skip:
        pair("clone --bare",
             lambda: ["git", "clone", "-q", "--bare", url, fresh(os.path.join(scratch, "g.git"))],
             lambda: puregit("clone", "-q", "--bare", url, fresh(os.path.join(scratch, "p.git"))))
    if "clone" not in skip:
        pair("clone (checkout)",
             lambda: ["git", "clone", "-q", url, fresh(os.path.join(scratch, "g"))],
             lambda: puregit("clone", "-q", url, fresh(os.path.join(scratch, "p"))))
    if "fetch" not in skip:
        src = os.path.join(WORK, name + ".git")
        branch = run(["git", "symbolic-ref", "--short", "HEAD"], cwd=src).stdout.strip().decode()
        # A client that really lacks the last commits: its objects come from a
        # repository that only ever had <branch>~N.
        old = run(["git", "rev-parse", f"{branch}~{FETCH_BACK}"], cwd=src).stdout.strip().decode()
        old_repo = os.path.join(WORK, f"{name}-old.git")
        if not os.path.exists(old_repo):
            run(["git", "init", "-q", "--bare", old_repo])
            run(["git", "fetch", "-q", "--no-tags", src, f"{old}:refs/heads/{branch}"], cwd=old_repo)
            run(["git", "symbolic-ref", "HEAD", f"refs/heads/{branch}"], cwd=old_repo)
        base = fresh(os.path.join(scratch, "fetch-base"))
        run(["git", "clone", "-q", "--no-checkout", "--single-branch", "-b", branch, old_repo, base])
        run(["git", "remote", "set-url", "origin", url], cwd=base)

        def copy(who):
            dst = fresh(os.path.join(scratch, "fetch-" + who))
            shutil.copytree(base, dst, symlinks=True)
            return dst
        pair(f"fetch {FETCH_BACK} commits", lambda: ["git", "fetch", "-q", "origin"],
             lambda: puregit("fetch", "-q", "origin"), cwd_fn=copy)
        want = run(["git", "rev-parse", branch], cwd=src).stdout
        for who in ("git", "pg"):
            got = run(["git", "rev-parse", f"refs/remotes/origin/{branch}"],
                      cwd=os.path.join(scratch, "fetch-" + who)).stdout
            assert got == want, f"{who} fetch did not update origin/{branch}"
        run(["git", "fsck", "--connectivity-only"], cwd=os.path.join(scratch, "fetch-pg"))
    if "push" not in skip:
        src = os.path.join(WORK, name + ".git")

        def target(who):
            path = fresh(os.path.join(WORK, f"push-{who}.git"))
            run(["git", "init", "-q", "--bare", path])
            return src
        pair("push whole repo",
             lambda: ["git", "push", "-q", "--mirror", daemon.url("push-git.git")],
             lambda: puregit("push", "-q", "--mirror", daemon.url("push-pg.git")),
             cwd_fn=target)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--skip", default="")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    bundles = sorted(glob.glob(os.path.join(BENCHDATA, "*.bundle")))
    if not bundles:
        print(f"no bundles in {BENCHDATA}; nothing to do")
        return 0
    os.makedirs(WORK, exist_ok=True)
    run([sys.executable, "-m", "compileall", "-q", os.path.join(ROOT, "puregit")])
    names = []
    for bundle in bundles:
        name = os.path.basename(bundle)[:-len(".bundle")]
        if args.only and name != args.only:
            continue
        dst = os.path.join(WORK, name + ".git")
        if not os.path.exists(dst):
            run(["git", "clone", "--mirror", "-q", bundle, dst])
        names.append(name)
    daemon = Daemon(WORK)
    rows = []
    try:
        for name in names:
            print(f"{name}:", flush=True)
            rows += bench_repo(name, daemon, args.runs, skip)
    finally:
        daemon.stop()
        shutil.rmtree(os.path.join(WORK, "scratch"), ignore_errors=True)
    print("\nrepo                 operation            time ratio  memory ratio")
    for name, label, g, p in rows:
        print(f"{name:<20} {label:<20} {p[0] / g[0]:10.2f}  {p[1] / g[1]:12.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
