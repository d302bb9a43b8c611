"""Benchmark: ``pipeline-steps --help`` wall time against ``python -c pass`` (target: ratio < 2x).

Why: Jenkins calls the CLI many times per pipeline; the command list must come from
``cli.COMMANDS`` without importing requests, yaml or kubernetes. Two pairs are timed side by
side: the console script vs ``python3 -c pass`` as found on PATH (both pay the same launcher
cost, e.g. a pyenv shim), and the interpreter directly (``python -m pipeline_steps --help`` vs
``python -c pass``), which shows the package's own import cost.
Run: python3 bench/cli_help.py [--runs 15]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time


def wall(argv: list[str], runs: int) -> float:
    """Median wall time in seconds of ``runs`` executions (after one warm-up)."""
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    script = shutil.which("pipeline-steps")
    python_on_path = shutil.which("python3") or sys.executable
    pairs = []
    if script:
        pairs.append(("console script vs python3 -c pass (PATH)", [script, "--help"], [python_on_path, "-c", "pass"]))
    pairs.append(("python -m pipeline_steps --help vs python -c pass (direct)",
                  [sys.executable, "-m", "pipeline_steps", "--help"], [sys.executable, "-c", "pass"]))
    worst = 0.0
    for label, ours, peer in pairs:
        t_ours, t_peer = wall(ours, args.runs), wall(peer, args.runs)
        ratio = t_ours / t_peer
        worst = max(worst, ratio)
        print(f"{label}: {t_ours * 1000:.0f} ms vs {t_peer * 1000:.0f} ms  ratio {ratio:.2f}x")
    print(f"worst ratio {worst:.2f}x (target < 2x): {'OK' if worst < 2 else 'TOO SLOW'}")


if __name__ == "__main__":
    main()
