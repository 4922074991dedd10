"""Time ``dialogkit convert`` alpaca -> openai against an orjson round trip of the same file.

Every method runs as a whole fresh process (start-up included, as ``/usr/bin/time -v`` sees it),
in interleaved rounds (a seeded shuffle of (method, size) each round), so machine noise hits all
methods alike. Per run: wall seconds, MB/s and records/s of *input*, peak RSS of that one process
(``ru_maxrss`` from ``os.wait4``), its CPU seconds, and the CPU other processes used meanwhile
(from ``/proc/stat``; the machine is shared). Ratios are taken per round against
``orjson_roundtrip`` on the same file, then the median is reported (as perf-anchors.md does).

Methods:

- ``orjson_roundtrip`` [REF]: ``orjson.loads`` + ``orjson.dumps`` per line, no transform.
- ``orjson_transform``: the same plus the alpaca -> openai dict transform (the floor for any
  converter in Python; its output is also the oracle the dialogkit output is checked against).
- ``dialogkit``: ``python -m dialogkit convert IN OUT --from alpaca --to openai`` (as a user
  runs it: ``--jobs`` defaults to one worker per core for large JSONL files).
- ``dialogkit_jobs1``: the same with ``--jobs 1``: one process, the per-record cost itself.
- ``*_startup``: the same commands on a one-record file: the fixed cost inside each figure.

The dialogkit output of the first round is checked record by record against the input
(record count equal; every ``messages`` list equal to the reference transform). The result is a
markdown table on stdout and a JSON document (``--json``).

Usage::

    python benchmarks/bench_convert.py --sizes 25,100 --rounds 5 --json benchmarks/data/bench.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_corpus import DEFAULT_SEED, MB, write_corpus  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

ORJSON_ROUNDTRIP = """
import sys, orjson
loads, dumps = orjson.loads, orjson.dumps
with open(sys.argv[1], "rb") as f, open(sys.argv[2], "wb") as out:
    w = out.write
    for line in f:
        w(dumps(loads(line)) + b"\\n")
"""

ORJSON_TRANSFORM = """
import sys, orjson
loads, dumps = orjson.loads, orjson.dumps
with open(sys.argv[1], "rb") as f, open(sys.argv[2], "wb") as out:
    w = out.write
    for line in f:
        r = loads(line)
        inp = r.get("input")
        user = r["instruction"] + "\\n\\n" + inp if inp else r["instruction"]
        w(dumps({"messages": [{"role": "user", "content": user},
                              {"role": "assistant", "content": r["output"]}]}) + b"\\n")
"""

REF = "orjson_roundtrip"
# issue 11's targets: ratio to the round trip (largest size), one process's RSS, start-up
TARGETS = {"dialogkit": 0.9, "dialogkit_jobs1": 0.5}
RSS_LIMIT_MB = 64
STARTUP_LIMITS = {"import_dialogkit": 0.1, "dialogkit_help": 0.15}
NOISY = 0.15  # a run during which other processes used over 15% of the machine is left out


def methods(
    python: str, dialogkit: list[str], baseline: list[str] | None = None
) -> dict[str, list[str]]:
    """Each method's command; ``{in}``/``{out}`` are filled in per run. ``baseline`` (another
    dialogkit, e.g. an older checkout) adds ``baseline`` and ``baseline_jobs1``."""
    convert = ["convert", "{in}", "{out}", "--from", "alpaca", "--to", "openai"]
    out = {
        REF: [python, "-c", ORJSON_ROUNDTRIP, "{in}", "{out}"],
        "orjson_transform": [python, "-c", ORJSON_TRANSFORM, "{in}", "{out}"],
        "dialogkit": [*dialogkit, *convert],
        "dialogkit_jobs1": [*dialogkit, *convert, "--jobs", "1"],
    }
    if baseline:
        out["baseline"] = [*baseline, *convert]
        out["baseline_jobs1"] = [*baseline, *convert, "--jobs", "1"]
    return out


STARTUP_REF = "python_bare"


def startup_methods(
    python: str, dialogkit: list[str], baseline: list[str] | None = None
) -> dict[str, list[str]]:
    """Start-up commands (no input): a bare interpreter [REF], ``import dialogkit``,
    ``dialogkit --help`` and ``dialogkit formats`` (and the baseline's when given)."""
    out = {
        STARTUP_REF: [python, "-c", "pass"],
        "import_dialogkit": [python, "-c", "import dialogkit"],
        "dialogkit_help": [*dialogkit, "--help"],
        "dialogkit_formats": [*dialogkit, "formats"],
    }
    if baseline:
        out["baseline_help"] = [*baseline, "--help"]
        out["baseline_formats"] = [*baseline, "formats"]
    return out


def _busy_jiffies() -> int | None:
    """CPU time (clock ticks) all processes have used since boot, or None off Linux."""
    try:
        with open("/proc/stat") as f:
            parts = f.readline().split()
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in parts[1:9])
    return user + nice + system + irq + softirq + steal


def wait_idle(max_wait: float, busy_limit: float = 0.15, sample: float = 0.25) -> float:
    """Wait until other processes use under ``busy_limit`` of the machine; return seconds waited.

    The machine may be shared: a run that starts while others compute is slower for reasons
    that have nothing to do with the code under test.
    """
    start = time.perf_counter()
    tick = os.sysconf("SC_CLK_TCK")
    cpus = os.cpu_count() or 1
    while time.perf_counter() - start < max_wait:
        b0 = _busy_jiffies()
        if b0 is None:
            break
        time.sleep(sample)
        b1 = _busy_jiffies()
        if b1 is not None and (b1 - b0) / tick / (sample * cpus) < busy_limit:
            break
    return time.perf_counter() - start


class TreeRss:
    """Samples the summed RSS of a process and its descendants every ``interval`` seconds.

    ``ru_maxrss`` covers one process at a time; a command that forks workers holds the sum of
    them at once (this double-counts pages shared after fork, as perf-anchors.md notes).
    """

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.peak = 0.0
        self._stop = threading.Event()
        try:
            import psutil
        except ImportError:  # psutil is a dev dependency; without it only ru_maxrss is kept
            self._thread = None
            return
        self._proc = psutil.Process(pid)
        self._psutil = psutil
        self._interval = interval
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        psutil = self._psutil
        while not self._stop.is_set():
            try:
                procs = [self._proc, *self._proc.children(recursive=True)]
                total = 0
                for p in procs:
                    with contextlib.suppress(psutil.Error):
                        total += p.memory_info().rss
                self.peak = max(self.peak, total / (1 << 20))
            except psutil.Error:
                pass
            self._stop.wait(self._interval)

    def stop(self) -> float:
        """Stop sampling; the peak summed RSS in MiB."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        return self.peak


def run_once(cmd: list[str], inp: Path, out: Path) -> dict[str, Any]:
    """Run one command as a fresh process; wall, peak RSS and CPU of that process only."""
    argv = [a.replace("{in}", str(inp)).replace("{out}", str(out)) for a in cmd]
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    busy0 = _busy_jiffies()
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    sampler = TreeRss(proc.pid)
    assert proc.stderr is not None
    stderr = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    tree_peak = sampler.stop()
    busy1 = _busy_jiffies()
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stderr.close()
    if proc.returncode != 0:
        raise RuntimeError(
            f"{shlex.join(argv)[:300]} exited {proc.returncode}: {stderr.decode()[-2000:]}"
        )
    cpu = usage.ru_utime + usage.ru_stime
    foreign = share = None
    if busy0 is not None and busy1 is not None:
        foreign = max(0.0, (busy1 - busy0) / tick - cpu)
        share = foreign / (wall * (os.cpu_count() or 1))
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        # the biggest single process (the command or a worker it waited for), KiB -> MiB
        "peak_rss_mb": usage.ru_maxrss / 1024,
        # the peak of the summed RSS of the process tree (workers included), sampled
        "peak_tree_rss_mb": max(tree_peak, usage.ru_maxrss / 1024),
        "foreign_cpu_s": foreign,
        # the share of the machine other processes used meanwhile; runs over NOISY are left out
        "foreign_share": share,
    }


def count_lines(path: Path) -> int:
    """Non-blank lines of a JSONL file."""
    with open(path, "rb") as f:
        return sum(1 for line in f if line.strip())


def verify(inp: Path, out: Path) -> dict[str, Any]:
    """Check the dialogkit output against the input, record by record."""
    import orjson

    n_in = n_out = 0
    mismatches: list[int] = []
    extra_keys: set[str] = set()
    with open(inp, "rb") as fi, open(out, "rb") as fo:
        for a, b in zip(fi, fo):  # noqa: B905 - the tails are counted below
            n_in += 1
            n_out += 1
            r = orjson.loads(a)
            o = orjson.loads(b)
            user = r["instruction"] + "\n\n" + r["input"] if r.get("input") else r["instruction"]
            want = [{"role": "user", "content": user},
                    {"role": "assistant", "content": r["output"]}]
            if o.get("messages") != want:
                mismatches.append(n_in)
            extra_keys.update(k for k in o if k != "messages")
        n_in += sum(1 for line in fi if line.strip())
        n_out += sum(1 for line in fo if line.strip())
    with open(out, "rb") as fo:
        first = orjson.loads(fo.readline())
    return {
        "records_in": n_in,
        "records_out": n_out,
        "mismatched_records": len(mismatches),
        "first_mismatches": mismatches[:5],
        "extra_output_keys": sorted(extra_keys),
        "first_output_record": first,
        "ok": n_in == n_out and not mismatches and not extra_keys,
    }


def _median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def corpus(data_dir: Path, mb: float, seed: int) -> tuple[Path, dict[str, Any]]:
    """The corpus file for ``mb`` and ``seed``, generated on first use."""
    path = data_dir / f"alpaca-{mb:g}mb-s{seed}.jsonl"
    meta_path = path.with_suffix(".meta.json")
    if path.exists() and meta_path.exists():
        meta: dict[str, Any] = json.loads(meta_path.read_text())
        if meta.get("bytes") == path.stat().st_size:
            return path, meta
    meta = write_corpus(path, mb, seed)
    meta_path.write_text(json.dumps(meta) + "\n")
    return path, meta


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The whole benchmark: corpora, interleaved rounds, verification, summary."""
    data_dir: Path = args.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    dialogkit = shlex.split(args.dialogkit) if args.dialogkit else [args.python, "-m", "dialogkit"]
    baseline = shlex.split(args.baseline) if args.baseline else None
    cmds = methods(args.python, dialogkit, baseline)
    starts = startup_methods(args.python, dialogkit, baseline)
    sizes = [float(s) for s in args.sizes.split(",")]
    files = {mb: corpus(data_dir, mb, args.seed) for mb in sizes}
    tiny, _ = corpus(data_dir, 0.0, args.seed)  # one record: start-up cost
    records = {mb: count_lines(p) for mb, (p, _) in files.items()}
    work = Path(tempfile.mkdtemp(prefix="bench-out-", dir=data_dir))
    runs: list[dict[str, Any]] = []
    checks: dict[str, Any] = {}
    try:
        for r in range(args.rounds):
            jobs = [(m, mb) for m in cmds for mb in sizes]
            jobs += [(f"{m}_startup", None) for m in cmds]
            jobs += [(f"startup:{m}", None) for m in starts]
            random.Random(args.seed + r).shuffle(jobs)
            for name, mb in jobs:
                method = name.removesuffix("_startup")
                inp = tiny if mb is None else files[mb][0]
                out = work / f"{name}-{mb}.jsonl"
                waited = wait_idle(args.max_wait)
                if name.startswith("startup:"):
                    res = run_once(starts[name.removeprefix("startup:")], inp, out)
                else:
                    res = run_once(cmds[method], inp, out)
                res.update(round=r, method=name, mb=mb, waited_s=waited)
                res["noisy"] = (res["foreign_share"] or 0.0) > NOISY
                if mb is not None:
                    size = files[mb][1]["bytes"]
                    res["mb_per_s"] = size / MB / res["wall_s"]
                    res["records_per_s"] = records[mb] / res["wall_s"]
                    key = f"{method}:{mb:g}"
                    if method.startswith(("dialogkit", "baseline")) and key not in checks:
                        checks[key] = verify(inp, out)
                runs.append(res)
                out.unlink(missing_ok=True)
                if not args.quiet:
                    sys.stderr.write(
                        f"round {r + 1}/{args.rounds} {name:<26} {'-' if mb is None else mb:>6} "
                        f"{res['wall_s']:7.3f}s cpu {res['cpu_s']:6.3f}s "
                        f"rss {res['peak_rss_mb']:6.1f} MiB "
                        f"foreign {res['foreign_share'] or 0:.0%}\n"
                    )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return summarize(args, sizes, files, records, runs, checks)


def summarize(
    args: argparse.Namespace,
    sizes: list[float],
    files: dict[float, tuple[Path, dict[str, Any]]],
    records: dict[float, int],
    runs: list[dict[str, Any]],
    checks: dict[str, Any],
) -> dict[str, Any]:
    """Medians per (method, size), per-round ratios against the reference, and the targets."""

    def pick(method: str, mb: float | None) -> list[dict[str, Any]]:
        xs = [x for x in runs if x["method"] == method and x["mb"] == mb]
        clean = [x for x in xs if not x["noisy"]]
        return clean or xs  # all runs noisy: keep them (the JSON says so per run)

    names = list(dict.fromkeys(x["method"] for x in runs if x["mb"] is not None))
    names.sort(key=lambda m: (m != REF, m.startswith(("dialogkit", "baseline")), m))
    startup = {m: _median([x["wall_s"] for x in pick(f"{m}_startup", None)]) for m in names}
    startup_rss = {
        m: _median([x["peak_rss_mb"] for x in pick(f"{m}_startup", None)]) for m in names
    }
    rows: list[dict[str, Any]] = []
    for mb in sizes:
        size = files[mb][1]["bytes"]
        refs = pick(REF, mb)
        ref_wall = _median([x["wall_s"] for x in refs])
        ref_by_round = {x["round"]: x for x in refs}
        for method in names:
            xs = pick(method, mb)
            # per round when the reference run of that round is clean, else its median
            ratios = [ref_by_round.get(x["round"], {"wall_s": ref_wall})["wall_s"] / x["wall_s"]
                      for x in xs]
            cpu_ratio = _median([x["cpu_s"] for x in refs]) / _median([x["cpu_s"] for x in xs])
            walls = [x["wall_s"] for x in xs]
            # start-up excluded: input bytes over (wall - median start-up of the same command)
            steady = [
                (size / MB / (x["wall_s"] - startup[method]))
                / (size / MB / (ref_by_round.get(x["round"], {"wall_s": ref_wall})["wall_s"]
                                - startup[REF]))
                for x in xs
            ]
            rows.append({
                "method": method,
                "mb": mb,
                "bytes": size,
                "records": records[mb],
                "n": len(xs),
                "n_noisy_left_out": args.rounds - len(xs),
                "wall_s_median": _median(walls),
                "wall_s_min": min(walls),
                "wall_s_max": max(walls),
                "mb_per_s": size / MB / _median(walls),
                "records_per_s": records[mb] / _median(walls),
                "cpu_s_median": _median([x["cpu_s"] for x in xs]),
                "peak_rss_mb": _median([x["peak_rss_mb"] for x in xs]),
                "peak_rss_mb_max": max(x["peak_rss_mb"] for x in xs),
                "peak_tree_rss_mb": _median([x["peak_tree_rss_mb"] for x in xs]),
                "peak_tree_rss_mb_max": max(x["peak_tree_rss_mb"] for x in xs),
                "ratio_vs_ref": _median(ratios),
                "ratio_vs_ref_excl_startup": _median(steady),
                "ratio_vs_ref_cpu": cpu_ratio,
                "foreign_cpu_s_max": max((x["foreign_cpu_s"] or 0.0) for x in xs),
            })
    big, small = max(sizes), min(sizes)
    targets: dict[str, Any] = {}
    for method in (m for m in names if m.startswith(("dialogkit", "baseline"))):
        dk = {r["mb"]: r for r in rows if r["method"] == method}
        floor = TARGETS.get(method.replace("baseline", "dialogkit"), 0.5)
        t = {
            "ratio_min": floor,
            "ratio": dk[big]["ratio_vs_ref"],
            "ratio_ok": dk[big]["ratio_vs_ref"] >= floor,
            "peak_rss_mb_limit": RSS_LIMIT_MB,
            # one process (a worker or the parent), as issue 11 sets it
            "peak_rss_mb": max(r["peak_rss_mb_max"] for r in dk.values()),
            "rss_growth_mb": dk[big]["peak_rss_mb"] - dk[small]["peak_rss_mb"],
        }
        t["rss_ok"] = t["peak_rss_mb"] < RSS_LIMIT_MB and t["rss_growth_mb"] < 10
        targets[method] = t
    start_rows = startup_summary(runs)
    for r in start_rows:
        limit = STARTUP_LIMITS.get(r["method"].replace("baseline", "dialogkit"))
        if limit is not None:
            targets[f"startup:{r['method']}"] = {
                "wall_s": r["wall_s_median"], "limit_s": limit, "ok": r["wall_s_median"] < limit,
            }
    return {
        "command": shlex.join(sys.argv),
        "python": platform.python_version(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "seed": args.seed,
        "rounds": args.rounds,
        "corpora": {f"{mb:g}": {**files[mb][1], "records": records[mb]} for mb in sizes},
        "startup_wall_s": startup,
        "startup_peak_rss_mb": startup_rss,
        "startup_commands": start_rows,
        "results": rows,
        "verification": checks,
        "targets": targets,
        "runs": runs,
    }


def startup_summary(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per start-up command: median wall and peak RSS, and the per-round ratio of its wall time
    to a bare interpreter's (``python -c pass``) in the same round."""
    def pick(name: str) -> list[dict[str, Any]]:
        xs = [x for x in runs if x["method"] == f"startup:{name}"]
        return [x for x in xs if not x["noisy"]] or xs

    names = list(dict.fromkeys(
        x["method"].removeprefix("startup:") for x in runs if x["method"].startswith("startup:")
    ))
    if STARTUP_REF not in names:
        return []
    ref = pick(STARTUP_REF)
    ref_wall = _median([x["wall_s"] for x in ref])
    ref_by_round = {x["round"]: x["wall_s"] for x in ref}
    out = []
    for name in names:
        xs = pick(name)
        out.append({
            "method": name,
            "n": len(xs),
            "wall_s_median": _median([x["wall_s"] for x in xs]),
            "wall_s_min": min(x["wall_s"] for x in xs),
            "peak_rss_mb": _median([x["peak_rss_mb"] for x in xs]),
            "x_bare_python": _median([x["wall_s"] / ref_by_round.get(x["round"], ref_wall)
                                      for x in xs]),
        })
    return out


def markdown(doc: dict[str, Any]) -> str:
    """The summary as a small markdown table (plus start-up, verification and target lines)."""
    lines = [
        f"alpaca -> openai, {doc['rounds']} interleaved rounds, whole processes "
        f"(medians of the n runs with < {NOISY:.0%} foreign CPU; ratio = MB/s over "
        f"orjson_roundtrip's MB/s in the same round)",
        "",
        "| method | MB | records | n | wall s | MB/s | rec/s | peak RSS MiB (tree) | ratio "
        "| ratio excl. start-up | CPU-time ratio |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in doc["results"]:
        name = f"{r['method']} [REF]" if r["method"] == REF else r["method"]
        lines.append(
            f"| {name} | {r['bytes'] / MB:.1f} | {r['records']:,} | {r['n']} | "
            f"{r['wall_s_median']:.3f} | {r['mb_per_s']:.1f} | {r['records_per_s']:,.0f} | "
            f"{r['peak_rss_mb']:.1f} ({r['peak_tree_rss_mb']:.1f}) | {r['ratio_vs_ref']:.3f} | "
            f"{r['ratio_vs_ref_excl_startup']:.3f} | {r['ratio_vs_ref_cpu']:.3f} |"
        )
    st = doc["startup_wall_s"]
    rss = doc["startup_peak_rss_mb"]
    lines += [
        "",
        "start-up (one-record file): "
        + ", ".join(f"{m} {st[m]:.3f} s / {rss[m]:.1f} MiB" for m in st),
    ]
    if doc.get("startup_commands"):
        lines += [
            "",
            "| start-up command | n | wall s (median) | min | peak RSS MiB | x bare python |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for r in doc["startup_commands"]:
            name = f"{r['method']} [REF]" if r["method"] == STARTUP_REF else r["method"]
            lines.append(
                f"| {name} | {r['n']} | {r['wall_s_median']:.3f} | {r['wall_s_min']:.3f} | "
                f"{r['peak_rss_mb']:.1f} | {r['x_bare_python']:.2f} |"
            )
    for key, v in doc["verification"].items():
        lines.append(
            f"verified {key} MB: records in {v['records_in']:,}, out {v['records_out']:,}, "
            f"mismatched {v['mismatched_records']}, extra keys {v['extra_output_keys'] or 'none'}"
            f" -> {'OK' if v['ok'] else 'FAIL'}"
        )
    for method, t in doc["targets"].items():
        if method.startswith("startup:"):
            lines.append(
                f"targets {method}: {t['wall_s']:.3f} s (< {t['limit_s']} s: "
                f"{'OK' if t['ok'] else 'MISS'})"
            )
            continue
        lines.append(
            f"targets {method}: ratio {t['ratio']:.3f} "
            f"(>= {t['ratio_min']}: {'OK' if t['ratio_ok'] else 'MISS'}); "
            f"peak tree RSS {t['peak_rss_mb']:.1f} MiB, growth {t['rss_growth_mb']:+.1f} MiB "
            f"(< {t['peak_rss_mb_limit']} and flat: {'OK' if t['rss_ok'] else 'MISS'})"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Command line; exits 1 when the dialogkit output fails verification."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="25,100", help="corpus sizes in 10^6 bytes (default 25,100)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--data-dir", type=Path, default=ROOT / "benchmarks" / "data")
    ap.add_argument("--json", type=Path,
                    default=ROOT / "benchmarks" / "data" / "bench_convert.json")
    ap.add_argument("--python", default=sys.executable, help="interpreter for every method")
    ap.add_argument("--dialogkit", default=None,
                    help="command that runs the CLI (default: PYTHON -m dialogkit)")
    ap.add_argument("--baseline", default=None,
                    help="another dialogkit command to run in the same rounds (e.g. "
                    "'env PYTHONPATH=/tmp/old python -m dialogkit'): methods baseline*")
    ap.add_argument("--quiet", action="store_true", help="no per-run lines on stderr")
    ap.add_argument("--max-wait", type=float, default=20.0,
                    help="seconds to wait for an idle machine before each run (0: do not wait)")
    args = ap.parse_args(argv)
    doc = run(args)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.write(markdown(doc))
    return 0 if all(v["ok"] for v in doc["verification"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
