#!/usr/bin/env python3
"""Serve real repositories with ``git daemon`` and with ``puregit daemon``; compare.

For each bundle in ../shared/benchdata (restored with ``git clone --mirror``
into bench/work/server/), two variants are served: the mirror as restored
(one pack, no bitmap) and a copy after ``git gc`` (what a hosting server
has: ``gc`` writes a reachability bitmap in bare repositories).  Timed, with
the real ``git`` client over git:// on 127.0.0.1, best of ``--runs``:

* a full ``git clone --bare``;
* an incremental ``git fetch`` of 3 new commits into an older clone;
* 8 concurrent full clones (all must succeed).

Prints seconds and the ratio puregit / git daemon, and puregit's peak RSS.
Usage: ``python bench/bench_server.py [--bundle git-v2.0.0] [--runs 3] [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
WORK = os.path.join(HERE, "work", "server")
BENCHDATA = os.path.join(os.path.dirname(ROOT), "shared", "benchdata")
ENV = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", LC_ALL="C", GIT_TERMINAL_PROMPT="0",
           GIT_AUTHOR_NAME="B", GIT_AUTHOR_EMAIL="b@example.com",
           GIT_COMMITTER_NAME="B", GIT_COMMITTER_EMAIL="b@example.com")


def run(*args, cwd=None, check=True, quiet=True):
    p = subprocess.run(list(args), cwd=cwd, env=ENV, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    if check and p.returncode:
        raise SystemExit(f"{' '.join(args)} failed:\n{p.stderr.decode(errors='replace')}")
    return p.stdout


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port: int, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"server on port {port} did not start")


def prepare(name: str) -> dict:
    """bench/work/server/<name>.git (mirror), <name>-gc.git (after gc), <name>-inc.git."""
    os.makedirs(WORK, exist_ok=True)
    bundle = os.path.join(BENCHDATA, name + ".bundle")
    plain = os.path.join(WORK, name + ".git")
    if not os.path.isdir(plain):
        print(f"restoring {bundle} ...", flush=True)
        run("git", "clone", "--mirror", "-q", bundle, plain)
    gc = os.path.join(WORK, name + "-gc.git")
    if not os.path.isdir(gc):
        shutil.copytree(plain, gc)
        run("git", "gc", "-q", cwd=gc)
    return {"plain": plain, "gc": gc}


PYCACHE = os.path.join(HERE, "work", "pycache")


def puregit_env() -> dict:
    """The daemon's environment: puregit from this tree, run from compiled byte-code.

    This environment sets PYTHONDONTWRITEBYTECODE, which would make the
    daemon compile every module it imports lazily (the pack walk, the pack
    writer) from source during the first clone; an installed package has its
    ``.pyc`` files.  main() compiles them once into bench/work/pycache.
    """
    e = dict(ENV, PYTHONPATH=ROOT, PYTHONPYCACHEPREFIX=PYCACHE)
    e.pop("PYTHONDONTWRITEBYTECODE", None)
    return e


def compile_puregit() -> None:
    subprocess.run([sys.executable, "-m", "compileall", "-q", os.path.join(ROOT, "puregit")],
                   env=puregit_env(), check=True, stdout=subprocess.DEVNULL)


def start_puregit(port: int) -> subprocess.Popen:
    pg = subprocess.Popen([sys.executable, "-m", "puregit", "daemon", "--base-path", WORK,
                           "--listen", "127.0.0.1", "--port", str(port), "--export-all",
                           "--max-connections", "64"],
                          env=puregit_env(), stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
    wait_port(port)
    return pg


def stop(p: subprocess.Popen) -> None:
    p.terminate()
    try:
        p.wait(10)
    except subprocess.TimeoutExpired:
        p.kill()


def start_servers():
    gport, pport = free_port(), free_port()
    gd = subprocess.Popen(["git", "daemon", "--reuseaddr", "--export-all", "--listen=127.0.0.1",
                           f"--port={gport}", f"--base-path={WORK}", WORK],
                          env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(gport)
    return (gd, gport), (start_puregit(pport), pport)


def timed(fn, runs: int) -> float:
    best = None
    for _ in range(runs):
        t = fn()
        best = t if best is None else min(best, t)
    return best


def clone_once(port: int, repo: str, dest: str) -> float:
    shutil.rmtree(dest, ignore_errors=True)
    t0 = time.perf_counter()
    run("git", "clone", "-q", "--bare", f"git://127.0.0.1:{port}/{repo}", dest)
    return time.perf_counter() - t0


def concurrent_clones(port: int, repo: str, tmp: str, n: int = 8) -> tuple[float, int]:
    dests = [os.path.join(tmp, f"cc{i}") for i in range(n)]
    for d in dests:
        shutil.rmtree(d, ignore_errors=True)
    t0 = time.perf_counter()
    procs = [subprocess.Popen(["git", "clone", "-q", "--bare", f"git://127.0.0.1:{port}/{repo}",
                               d], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for d in dests]
    failures = sum(1 for p in procs if p.wait() != 0)
    elapsed = time.perf_counter() - t0
    if not failures:
        run("git", "fsck", "--connectivity-only", cwd=dests[0])
    for d in dests:
        shutil.rmtree(d, ignore_errors=True)
    return elapsed, failures


def incremental(ports: dict, plain: str, tmp: str, runs: int) -> dict:
    """Fetch 3 new commits into an older clone, from each server."""
    name = os.path.basename(plain)[:-4] + "-inc.git"
    inc = os.path.join(WORK, name)
    shutil.rmtree(inc, ignore_errors=True)
    shutil.copytree(plain, inc)
    base = os.path.join(tmp, "incbase")
    shutil.rmtree(base, ignore_errors=True)
    run("git", "clone", "-q", "--bare", inc, base)
    head = run("git", "rev-parse", "HEAD", cwd=inc).strip().decode()
    branch = run("git", "symbolic-ref", "HEAD", cwd=inc).strip().decode()
    tree = run("git", "rev-parse", "HEAD^{tree}", cwd=inc).strip().decode()
    parent = head
    for i in range(3):
        with tempfile.NamedTemporaryFile("wb", delete=False) as f:
            f.write(b"new file %d\n" % i)
        blob = run("git", "hash-object", "-w", f.name, cwd=inc).strip().decode()
        os.unlink(f.name)
        listing = run("git", "ls-tree", tree, cwd=inc).decode()
        listing += f"100644 blob {blob}\tbench-new-{i}.txt\n"
        tree = subprocess.run(["git", "mktree"], cwd=inc, env=ENV, input=listing.encode(),
                              stdout=subprocess.PIPE, check=True).stdout.strip().decode()
        parent = run("git", "commit-tree", tree, "-p", parent, "-m", f"bench {i}",
                     cwd=inc).strip().decode()
    run("git", "update-ref", branch, parent, cwd=inc)
    out = {}
    for label, port in ports.items():
        def once():
            d = os.path.join(tmp, "inc-" + label)
            shutil.rmtree(d, ignore_errors=True)
            shutil.copytree(base, d)
            t0 = time.perf_counter()
            run("git", "fetch", "-q", f"git://127.0.0.1:{port}/{name}", f"+{branch}:{branch}",
                cwd=d)
            t = time.perf_counter() - t0
            got = run("git", "rev-parse", branch, cwd=d).strip().decode()
            assert got == parent, (label, got, parent)
            return t
        out[label] = timed(once, runs)
    return out


def peak_rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", action="append",
                    help="bundle name(s) in benchdata (default: git-v2.0.0)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="one run, skip the concurrent clones")
    args = ap.parse_args()
    if not os.path.isdir(BENCHDATA):
        print(f"no benchdata at {BENCHDATA}; nothing to do")
        return 0
    names = args.bundle or ["git-v2.0.0"]
    runs = 1 if args.quick else args.runs
    compile_puregit()
    (gd, gport), (pg, pport) = start_servers()
    ports = {"git": gport, "puregit": pport}
    rows = []
    rss = 0
    tmp = tempfile.mkdtemp(prefix="bench-server-", dir=os.path.join(HERE, "work"))
    try:
        for name in names:
            repos = prepare(name)
            for variant in ("plain", "gc"):
                repo = os.path.basename(repos[variant])
                first, best = {}, {}
                for label, port in ports.items():
                    times = [clone_once(port, repo, os.path.join(tmp, "c")) for _ in range(runs)]
                    first[label], best[label] = times[0], min(times)
                what = "no bitmap" if variant == "plain" else "after gc, bitmap"
                rows.append((f"{name} full clone ({what}), first", first["git"], first["puregit"]))
                if runs > 1:
                    rows.append((f"{name} full clone ({what}), best of {runs}", best["git"],
                                 best["puregit"]))
                for r in rows[-2 if runs > 1 else -1:]:
                    print(f"  {r[0]}: git {r[1]:.2f}s puregit {r[2]:.2f}s", flush=True)
            inc = incremental(ports, repos["plain"], tmp, runs)
            rows.append((f"{name} incremental fetch (3 commits)", inc["git"], inc["puregit"]))
            print(f"  {rows[-1][0]}: git {inc['git']:.2f}s puregit {inc['puregit']:.2f}s",
                  flush=True)
            if not args.quick:
                for variant in ("gc", "plain"):
                    repo = os.path.basename(repos[variant])
                    rss = max(rss, peak_rss_kib(pg.pid))
                    stop(pg)   # a cold server: nothing remembered from earlier clones
                    pg = start_puregit(pport)
                    res, fails = {}, {}
                    for label, port in ports.items():
                        res[label], fails[label] = concurrent_clones(port, repo, tmp)
                    what = "no bitmap" if variant == "plain" else "bitmap"
                    rows.append((f"{name} 8 concurrent clones ({what}, cold server; failures "
                                 f"git={fails['git']} puregit={fails['puregit']})",
                                 res["git"], res["puregit"]))
                    print(f"  {rows[-1][0]}: git {res['git']:.2f}s puregit {res['puregit']:.2f}s",
                          flush=True)
        rss = max(rss, peak_rss_kib(pg.pid))
    finally:
        for p in (gd, pg):
            stop(p)
        shutil.rmtree(tmp, ignore_errors=True)
    print()
    print(f"{'case':<92} {'git':>7} {'puregit':>8} {'ratio':>6}")
    for case, g, p in rows:
        print(f"{case:<92} {g:7.2f} {p:8.2f} {p / g:6.2f}")
    print(f"puregit daemon peak RSS: {rss / 1024:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
