"""Chat-template bounds: wall time and peak memory of hostile templates, and render speed.

    python benchmarks/bench_templates.py --baseline /path/to/older/dialogkit --timeout 30

Each hostile template of issue 17 renders in a fresh process (the template worker included, so
its memory counts), stopped from outside after ``--timeout`` seconds; the peak RSS is the
largest of the process tree (``RUSAGE_CHILDREN``, measured by a middle process per case). The
render-speed part renders the same real conversations with real templates through ``render()``
and reports records per second, ours against the baseline in the same run. ``--baseline`` is a
checkout of dialogkit whose ``render_messages``/``render`` to compare with (``dialogkit.rendering``
exists in both).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DAG = "{% set ns = namespace(s=[1]) %}" + "{% set ns.s = [ns.s, ns.s] %}" * 36
HOSTILE = {
    "nested-loops": "{% set s = 'a' * 100000 %}{% for a in s %}{% for b in s %}{% endfor %}"
                    "{% endfor %}",
    "tojson-dag": DAG + "{{ ns.s|tojson }}",
    "center": "{{ 'a'|center(2000000000)|length }}",
    "ljust": "{{ 'x'.ljust(2000000000)|length }}",
    "printf": "{{ ('%2000000000d' % 1)|length }}",
    "format": "{{ '{:>2000000000}'.format('a')|length }}",
    "tojson-indent": "{{ [[[[1]]]]|tojson(indent=500000000)|length }}",
    "lipsum-repr": "{{ '%(x)s' % {'x': lipsum} }}",
}
RENDER_ONE = """
import json, sys
from dialogkit.rendering import render_messages
try:
    text, _ = render_messages([{"role": "user", "content": "x"}], sys.argv[1])
    print(json.dumps({"outcome": "rendered " + text[:60]}))
except Exception as exc:
    print(json.dumps({"outcome": type(exc).__name__ + ": " + str(exc)[:100]}))
"""
SPEED = """
import json, sys, time
from dialogkit.models import Conversation, Message
from dialogkit.rendering import load_template, render
convs = [Conversation(messages=[
    Message(role="system", content="You are helpful."),
    Message(role="user", content=f"Question {i}: what is {i} + {i}?"),
    Message(role="assistant", content=f"It is {2 * i}."),
    Message(role="user", content="Thanks, and times two?"),
    Message(role="assistant", content=f"That is {4 * i}."),
]) for i in range(int(sys.argv[2]))]
tpl = load_template(sys.argv[1])
list(render(convs[:20], tpl))  # warm up: compile, start the worker
t = time.perf_counter()
rows = list(render(convs, tpl))
print(json.dumps({"seconds": time.perf_counter() - t, "records": len(rows)}))
"""


def _case(code: str, args: list[str], dialogkit: str, timeout: float) -> dict[str, object]:
    """Run one child process; its wall time, peak RSS (MB) of its tree and its last JSON line."""
    env = {"PYTHONPATH": dialogkit, "PATH": "/usr/bin:/bin"}
    t = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=env, cwd=dialogkit)
    try:
        out, _ = proc.communicate(timeout=timeout)
        result = json.loads(out.decode().strip().splitlines()[-1])
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        result = {"outcome": f"still running after {timeout:g}s (killed)"}
    result["wall_s"] = round(time.monotonic() - t, 2)
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
    return result


def main() -> None:
    """Command line; ``--one`` runs a single case in this (middle) process."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", help="another dialogkit checkout to measure in the same run")
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--cases", default=",".join(HOSTILE))
    ap.add_argument("--records", type=int, default=2000)
    ap.add_argument("--templates", default="chatml.jinja,llama-3.1-instruct.jinja,qwen3.jinja")
    ap.add_argument("--json", help="write the results here too")
    ap.add_argument("--one", nargs=4, metavar=("KIND", "ARG", "DIALOGKIT", "TIMEOUT"),
                    help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        kind, arg, dk, timeout = a.one
        if kind == "hostile":
            res = _case(RENDER_ONE, [HOSTILE[arg]], dk, float(timeout))
        else:
            res = _case(SPEED, [arg, str(a.records)], dk, float(timeout))
        print(json.dumps(res))
        return
    impls = {"ours": str(ROOT)}
    if a.baseline:
        impls["baseline"] = str(Path(a.baseline).resolve())
    shared = ROOT.parent / "shared" / "data" / "chat_templates"
    if not shared.is_dir():
        shared = Path("/work/shared/data/chat_templates")
    results: dict[str, dict[str, object]] = {}
    jobs = [("hostile", c) for c in a.cases.split(",") if c] + [
        ("speed", str(shared / t)) for t in a.templates.split(",") if t
    ]
    for kind, arg in jobs:
        for name, dk in impls.items():
            out = subprocess.run(
                [sys.executable, __file__, "--records", str(a.records), "--one", kind, arg, dk,
                 str(a.timeout if kind == "hostile" else 600)],
                capture_output=True, check=True,
            )
            res = json.loads(out.stdout)
            key = f"{kind} {Path(arg).name} [{name}]"
            results[key] = res
            if kind == "speed":
                rate = res["records"] / res["seconds"] if "seconds" in res else 0
                print(f"{key:55} {rate:8.0f} records/s  peak {res['peak_rss_mb']} MB")
            else:
                print(f"{key:40} {res['wall_s']:6.2f}s  peak {res['peak_rss_mb']:5} MB  "
                      f"{res['outcome']}")
            sys.stdout.flush()
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
