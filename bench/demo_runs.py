"""Benchmark: ``pipeline-steps demo --test-duration 5``, N runs in a row, side by side with the baseline:
the same command on main before issue 15 (``BASELINE``, unpacked from git), where a new colour
was a new Prometheus target that the load test could outrun (2 of 4 runs failed).

Each run is a fresh process with its own work folder, as a user types it; the runs of the two
trees alternate, so a busy moment of a shared machine hits both alike. Printed per tree: runs
passed (exit 0, the demo checks its own story), wall time median / max, the CPU time of the
demo and its steps (``RUSAGE_CHILDREN``: the CLI processes it waited for, not the detached
carts, Envoy and Prometheus), and the ratio ours/baseline. The issue's target: 10 of 10 in 30 s
or less each. ``--exec-runs N`` adds our tree with every step in a new interpreter
(``PIPELINE_STEPS_STEP_LAUNCH=exec``, as before steps were forked: steps/launch.py) and prints
forked/exec. Run: python3 bench/demo_runs.py [--runs 10] [--baseline-runs 10] [--exec-runs 10]

Both trees are byte-compiled first (``compileall``, into their ``__pycache__``), as ``pip install``
does: each demo starts ~30 Python processes, and where ``PYTHONDONTWRITEBYTECODE`` is set (as on
the team's machine) a tree without bytecode has every one of them compile every module of ours it
imports (~60-80 ms of CPU a step, measured); a half-compiled checkout would measure its own
history, not the code. ``--no-compile`` measures the trees as they are.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "e9686cf"
"""main before the local platform's changes for issue 15."""


@dataclass
class Runs:
    label: str
    tree: Path
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    codes: list[int] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)

    def line(self) -> str:
        passed = sum(c == 0 for c in self.codes)
        return (f"{self.label:14} passed {passed}/{len(self.codes)}  wall median {statistics.median(self.walls):5.1f} s "
                f"max {max(self.walls):5.1f} s  CPU median {statistics.median(self.cpus):5.1f} s  exits {self.codes}")


def run_once(runs: Runs, workdir: Path, duration: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(runs.tree), **runs.env}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    with open(workdir.with_suffix(".log"), "w") as log:
        code = subprocess.run([sys.executable, "-m", "pipeline_steps", "demo", "--workdir", str(workdir),
                               "--test-duration", duration], cwd=runs.tree, env=env, stdout=log,
                              stderr=subprocess.STDOUT, check=False).returncode
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    runs.walls.append(wall)
    runs.cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    runs.codes.append(code)
    print(f"  {runs.label:14} run {len(runs.codes):2}: exit {code} in {wall:5.1f} s"
          + ("" if code == 0 else f" (log {workdir.with_suffix('.log')})"), flush=True)


def baseline_tree(into: Path) -> Path:
    """``BASELINE``'s checkout (package and examples), unpacked from git."""
    archive = into / "baseline.tar"
    subprocess.run(["git", "-C", str(ROOT), "archive", "-o", str(archive), BASELINE], check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into / "baseline", filter="data")
    return into / "baseline"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--baseline-runs", type=int, default=10)
    parser.add_argument("--exec-runs", type=int, default=10, help="our tree with a new interpreter per step")
    parser.add_argument("--test-duration", default="5")
    parser.add_argument("--keep-logs", type=Path, default=None, help="copy the run logs here")
    parser.add_argument("--no-compile", action="store_true", help="do not byte-compile the trees first")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="demo-runs-") as tmp:
        root = Path(tmp)
        ours, base = Runs("ours", ROOT), Runs(f"main@{BASELINE}", baseline_tree(root) if args.baseline_runs else root)
        execs = Runs("ours, exec", ROOT, env={"PIPELINE_STEPS_STEP_LAUNCH": "exec"})
        for runs, count in ((ours, args.runs), (base, args.baseline_runs)) if not args.no_compile else ():
            if not count:
                continue
            subprocess.run([sys.executable, "-m", "compileall", "-q", str(runs.tree / "pipeline_steps")], check=True)
        for i in range(max(args.runs, args.baseline_runs, args.exec_runs)):
            for runs, limit in ((base, args.baseline_runs), (execs, args.exec_runs), (ours, args.runs)):
                if i < limit:
                    run_once(runs, root / f"{runs.label.split('@')[0].replace(', ', '-')}-{i}", args.test_duration)
        if args.keep_logs:
            args.keep_logs.mkdir(parents=True, exist_ok=True)
            for log in root.glob("*.log"):
                (args.keep_logs / log.name).write_bytes(log.read_bytes())
    print(f"\npipeline-steps demo --test-duration {args.test_duration}; load average now {os.getloadavg()[0]:.1f}")
    for runs in (base, execs, ours):
        if runs.codes:
            print(runs.line())
    if execs.codes and ours.codes:
        print(f"ratio forked/exec steps: wall median {statistics.median(ours.walls) / statistics.median(execs.walls):.2f}, "
              f"CPU median {statistics.median(ours.cpus) / statistics.median(execs.cpus):.2f}")
    if base.codes and ours.codes:
        rates = [sum(c == 0 for c in r.codes) / len(r.codes) for r in (ours, base)]
        print(f"ratio ours/main: wall median {statistics.median(ours.walls) / statistics.median(base.walls):.2f}, "
              f"CPU median {statistics.median(ours.cpus) / statistics.median(base.cpus):.2f}, pass rate "
              f"{rates[0]:.0%} vs {rates[1]:.0%}")
    target = ours.codes and all(c == 0 for c in ours.codes) and max(ours.walls) <= 30.0
    print(f"target (every run passes in 30 s or less): {'met' if target else 'NOT met'}")


if __name__ == "__main__":
    main()
