"""Benchmark: puregit's pack indexer against ``git index-pack`` on the same packs.

For every ``benchdata/*.bundle`` the bundle is restored once (``git clone
--mirror``) under ``bench/work/``, and its pack is indexed by:

* ``git index-pack --threads=1 -o X.idx PACK`` and default (threaded) ``git index-pack``;
* puregit in place (``PackData(PACK).create_index``), the same job;
* ``git index-pack --threads=1 --stdin`` and puregit's streaming indexer
  (``index_pack_stream``: copies the stream to a temp pack, as a fetch does).

Each is run in a fresh process, several times; the best wall time is kept.
Peak RSS comes from ``wait4``; puregit's Python-heap peak from tracemalloc in a
separate run.  puregit's ``.idx`` is checked to be byte-identical to git's.

Usage: python bench/bench_index_pack.py [--runs N] [--only NAME] [--no-tracemalloc]
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BENCHDATA = os.path.normpath(os.path.join(ROOT, "..", "shared", "benchdata"))
WORK = os.path.join(HERE, "work")

CHILD = r"""
import os, sys, time, resource, tempfile, json
sys.path.insert(0, {root!r})
mode, pack, out = sys.argv[1], sys.argv[2], sys.argv[3]
trace = len(sys.argv) > 4
from puregit.pack import PackData
from puregit.pack_indexer import index_pack_stream
if trace:
    import tracemalloc
    tracemalloc.start()
base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
if mode == "file":
    with PackData(pack) as data:
        data.create_index(out)
else:
    d = tempfile.mkdtemp(dir=os.path.dirname(out))
    with open(pack, "rb") as f:
        r = index_pack_stream(f.read, d)
    os.replace(r.idx_path, out)
    os.unlink(r.pack_path)
    os.rmdir(d)
elapsed = time.perf_counter() - t
peak = tracemalloc.get_traced_memory()[1] if trace else 0
print(json.dumps({{"time": elapsed, "base_rss_kb": base_rss, "heap_peak": peak}}))
"""


def git_env() -> dict:
    env = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", HOME=tempfile.mkdtemp(prefix="bench-home-"))
    env.pop("GIT_DIR", None)
    return env


def run_timed(cmd, env=None, stdin=None, cwd=None):
    """Run a command; return (wall seconds, peak RSS in KiB, stdout)."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=env, cwd=cwd)
    out = p.stdout.read()
    err = p.stderr.read()
    _, status, usage = os.wait4(p.pid, 0)
    elapsed = time.perf_counter() - t
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode:
        raise RuntimeError(f"{cmd} failed: {err.decode(errors='replace')}")
    return elapsed, usage.ru_maxrss, out


def restore(bundle: str, env) -> str:
    name = os.path.basename(bundle)[:-len(".bundle")]
    mirror = os.path.join(WORK, name + ".git")
    if not glob.glob(os.path.join(mirror, "objects/pack/*.pack")):
        shutil.rmtree(mirror, ignore_errors=True)
        os.makedirs(WORK, exist_ok=True)
        subprocess.run(["git", "clone", "--mirror", "-q", bundle, mirror], check=True, env=env)
    packs = glob.glob(os.path.join(mirror, "objects/pack/*.pack"))
    assert len(packs) == 1, packs
    return packs[0]


def best(fn, runs: int):
    results = [fn() for _ in range(runs)]
    return min(results, key=lambda r: r[0]), results


def bench_one(bundle: str, runs: int, tracemalloc: bool, env) -> dict:
    import json
    pack = restore(bundle, env)
    name = os.path.basename(bundle)
    scratch = tempfile.mkdtemp(prefix="bench-idx-", dir=WORK)
    git_idx = pack[:-5] + ".idx"
    out_idx = os.path.join(scratch, "out.idx")
    child = CHILD.format(root=ROOT)
    stdin_repo = os.path.join(scratch, "stdin.git")
    subprocess.run(["git", "init", "-q", "--bare", stdin_repo], check=True, env=env)
    res = {}
    try:
        def git_file(threads):
            args = ["git", "index-pack"] + ([f"--threads={threads}"] if threads else [])
            return run_timed(args + ["-o", out_idx, pack], env)

        def git_stdin():
            with open(pack, "rb") as f:
                r = run_timed(["git", "index-pack", "--threads=1", "--stdin",
                               os.path.join(scratch, "s.pack")], env, stdin=f, cwd=stdin_repo)
            for ext in (".pack", ".idx"):
                os.unlink(os.path.join(scratch, "s" + ext))
            return r

        def ours(mode, trace=False):
            cmd = [sys.executable, "-c", child, mode, pack, out_idx] + (["trace"] if trace else [])
            wall, rss, out = run_timed(cmd, env)
            info = json.loads(out)
            if open(out_idx, "rb").read() != open(git_idx, "rb").read():
                raise AssertionError(f"puregit idx differs from git's for {name} ({mode})")
            return info["time"], rss, info

        res["git1"] = best(lambda: git_file(1), runs)[0]
        res["gitN"] = best(lambda: git_file(None), runs)[0]
        res["git_stdin1"] = best(git_stdin, runs)[0]
        res["ours_file"] = best(lambda: ours("file"), runs)[0]
        res["ours_stream"] = best(lambda: ours("stream"), runs)[0]
        if tracemalloc:
            res["heap_file"] = ours("file", True)[2]["heap_peak"]
            res["heap_stream"] = ours("stream", True)[2]["heap_peak"]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", help="substring of the bundle name")
    ap.add_argument("--no-tracemalloc", action="store_true")
    args = ap.parse_args(argv)
    bundles = sorted(glob.glob(os.path.join(BENCHDATA, "*.bundle")))
    if args.only:
        bundles = [b for b in bundles if args.only in os.path.basename(b)]
    if not bundles:
        print(f"no bundles in {BENCHDATA}; nothing to do")
        return 0
    env = git_env()
    for bundle in bundles:
        r = bench_one(bundle, args.runs, not args.no_tracemalloc, env)
        mb = os.path.getsize(restore(bundle, env)) / 1e6
        g1, gN, gs = r["git1"][0], r["gitN"][0], r["git_stdin1"][0]
        of, os_ = r["ours_file"][0], r["ours_stream"][0]
        print(f"\n{os.path.basename(bundle)} ({mb:.1f} MB pack), best of {args.runs}:")
        print(f"  git index-pack --threads=1      {g1:7.2f} s   peak RSS {r['git1'][1] / 1024:6.1f} MiB")
        print(f"  git index-pack (threaded)       {gN:7.2f} s   peak RSS {r['gitN'][1] / 1024:6.1f} MiB")
        print(f"  git index-pack --threads=1 --stdin {gs:4.2f} s   peak RSS {r['git_stdin1'][1] / 1024:6.1f} MiB")
        print(f"  puregit create_index (in place) {of:7.2f} s   peak RSS {r['ours_file'][1] / 1024:6.1f} MiB")
        print(f"  puregit index_pack_stream       {os_:7.2f} s   peak RSS {r['ours_stream'][1] / 1024:6.1f} MiB")
        if "heap_file" in r:
            print(f"  puregit Python heap peak (tracemalloc): in place {r['heap_file'] / 2**20:.1f} MiB,"
                  f" stream {r['heap_stream'] / 2**20:.1f} MiB")
        print(f"  ratio in place / git --threads=1: {of / g1:.2f}x   (target <= 1.2x)")
        print(f"  ratio in place / git threaded:    {of / gN:.2f}x")
        print(f"  ratio stream / git --stdin --threads=1: {os_ / gs:.2f}x")
        print("  .idx byte-identical to git's: yes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
