"""The same benchmarks on two revisions of the code, interleaved in one run: is there a regression?

    .venv/bin/python -m bench.revisions --base <commit> [--rounds 2] [--measure 20]
        [--rebuild 100000] [--json out.json]

The base revision is exported (``git archive``) into a temporary directory and run from there
with ``PYTHONPATH`` pointing at it, so its own modules, its own benchmark scripts and its own
assets are used, with this checkout's virtualenv (the dependencies are the same). Rounds
alternate base and head, so a change of load on this noisy machine hits both alike; each
figure is the median over the rounds, and the headline is head / base.

Measured, per revision: publish → wall DOM latency under load (``bench.latency``: 20 screens,
10,000 workers' positions, 200 steps/s) and the rebuild from Redis at start
(``bench.analytics --only rebuild``: ``Bus.log_batches`` + ``State.fold_log`` in a fresh
process).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path
from typing import Any

from bench.common import ROOT, banner, say, table

METRICS = {
    "latency": [
        ("wall p50 ms", ("push", "p50")),
        ("wall p99 ms", ("push", "p99")),
        ("socket p99 ms", ("socket", "p99")),
        ("missed steps", ("push", "missed")),
    ],
    "rebuild": [
        ("rebuild wall s", ("rebuild", "redis_rebuild", "wall_s")),
        ("rebuild cpu s", ("rebuild", "redis_rebuild", "cpu_s")),
    ],
}


def export(rev: str, into: Path) -> Path:
    """The tree of ``rev``, as files (no .git): what a clean clone of it holds."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", rev], cwd=ROOT, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def run(tree: Path, module: str, args: list[str], out: Path) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    command = [sys.executable, "-m", module, *args, "--json", str(out)]
    say(f"{tree.name}: {' '.join(command[2:])}")
    subprocess.run(command, cwd=tree, env=env, check=True, stdout=subprocess.DEVNULL)
    return json.loads(out.read_text())


def pick(result: dict[str, Any], path: tuple[str, ...]) -> float:
    value: Any = result
    for key in path:
        value = value[key]
    return float(value)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.revisions", description=__doc__)
    parser.add_argument("--base", required=True, help="the revision to compare with")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--measure", type=int, default=20, help="latency window, seconds")
    parser.add_argument("--rebuild", type=int, default=100_000, help="steps in the log")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    banner(f"bench.revisions: {args.base} against this checkout")
    with tempfile.TemporaryDirectory(prefix="onemap-revisions-") as tmp:
        trees = {"base": export(args.base, Path(tmp) / "base"), "head": ROOT}
        found: dict[str, dict[str, list[float]]] = {"base": {}, "head": {}}
        for round_ in range(args.rounds):
            order = ["base", "head"] if round_ % 2 == 0 else ["head", "base"]
            for name in order:
                out = Path(tmp) / f"{name}-{round_}.json"
                results = {
                    "latency": run(
                        trees[name], "bench.latency", ["--measure", str(args.measure)], out
                    ),
                    "rebuild": run(
                        trees[name],
                        "bench.analytics",
                        ["--only", "rebuild", "--rebuild", str(args.rebuild)],
                        out,
                    ),
                }
                for part, metrics in METRICS.items():
                    for label, path in metrics:
                        value = pick(results[part], path)
                        found[name].setdefault(label, []).append(value)
    rows = []
    report: dict[str, Any] = {"base": args.base, "rounds": args.rounds, "metrics": {}}
    for label in found["head"]:
        base = statistics.median(found["base"][label])
        head = statistics.median(found["head"][label])
        ratio = head / base if base else float("nan")
        rows.append([label, f"{base:.3g}", f"{head:.3g}", f"{ratio:.2f}"])
        report["metrics"][label] = {
            "base": found["base"][label],
            "head": found["head"][label],
            "ratio": ratio,
        }
    print(table(rows, ["median of the rounds", "base", "head", "head / base"]))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
