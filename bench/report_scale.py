"""Benchmark: `pipeline-steps report` at 10,000 and 50,000 stored evaluations, this report vs the one it replaced.

Why: the report grew a column per evaluation with no limit (issue 15: 67 MB, 3 s and 443 MB to
write at 50,000, a minute and 4 GB for Chromium to render). Targets: at 10,000 under 0.3 s and
1 MB written; at 50,000 under 0.5 s and 60 MB of memory; headless Chromium renders it in under 2 s
at any size.

Side by side on one SQLite history per size (4 indicators an evaluation, built with the history's
own import): the baseline is the report of commit ``BASELINE`` (main before issues 15/16), run from
a ``git archive`` of that commit (it reads the same tables: schema 2 only added columns and an
index); ours is this tree. Each is the real CLI in its own process: wall time (median), CPU time
(user + system: steadier than wall time on a shared machine), peak RSS of that process, bytes
written (HTML + stylesheet), and the time headless Chromium (Debian ``chromium``, DevTools
protocol) takes from navigation to the load event and a screenshot. Ratios are ours / baseline.
The baseline's Chromium render at 50,000 is skipped unless ``--baseline-browser-50k`` (about a
minute and several GB).
Run: python3 bench/report_scale.py [--sizes 10000,50000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline_steps.history import open_history  # noqa: E402
from tests.chromium import render  # noqa: E402
from tests.history_data import fill  # noqa: E402

BASELINE = "e9686cf"


def baseline_tree(folder: Path) -> Path:
    """The package as it was at BASELINE, unpacked into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", BASELINE, "pipeline_steps"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return folder


def run_report(pythonpath: Path, history: Path, out: Path) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, peak RSS in MB) of one `report` process."""
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    argv = [sys.executable, "-m", "pipeline_steps", "report", "--history", str(history), "--project", "sockshop",
            "--service", "carts", "--stage", "staging", "--out", str(out)]
    started = time.perf_counter()
    # cwd: `python -m` puts the working directory first on sys.path; it must not be a checkout.
    proc = subprocess.Popen(argv, env=env, cwd=out.parent.parent, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"report failed: {proc.stderr.read().decode() if proc.stderr else ''}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss // 1024


def written(out: Path) -> int:
    return sum(p.stat().st_size for p in out.parent.iterdir() if p.is_file())


def measure(name: str, pythonpath: Path, history: Path, folder: Path, repeat: int, browser: bool) -> dict[str, float]:
    out = folder / name / "report.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    runs = [run_report(pythonpath, history, out) for _ in range(repeat)]
    result = {"seconds": statistics.median(r[0] for r in runs), "cpu_s": statistics.median(r[1] for r in runs),
              "rss_mb": max(r[2] for r in runs),
              "bytes": written(out), "render_s": float("nan")}
    if browser:
        result["render_s"] = statistics.median(render(out.as_uri(), [], timeout_s=600).load_s for _ in range(min(3, repeat)))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,50000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--baseline-browser-50k", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="report-bench-") as tmp:
        folder = Path(tmp)
        old = baseline_tree(folder / "baseline")
        print(f"report: ours (this tree) vs baseline ({BASELINE}), SQLite history, {args.repeat} runs, median;"
              f" machine: {os.cpu_count()} cores shared, load {os.getloadavg()[0]:.1f}")
        print(f"{'evaluations':>11} | {'':8} | {'wall s':>7} | {'cpu s':>7} | {'peak MB':>7} | {'written':>10} |"
              f" {'chromium s':>10}")
        for size in (int(s) for s in args.sizes.split(",")):
            history = folder / f"h{size}.sqlite"
            store = open_history(str(history))
            fill(store, size, failing=(-1,))
            store.close()
            ours = measure(f"ours{size}", ROOT, history, folder, args.repeat, True)
            base = measure(f"base{size}", old, history, folder, max(1, min(args.repeat, 3 if size <= 10000 else 1)),
                           size <= 10000 or args.baseline_browser_50k)
            for label, r in (("baseline", base), ("ours", ours)):
                print(f"{size:>11} | {label:8} | {r['seconds']:7.3f} | {r['cpu_s']:7.3f} | {r['rss_mb']:7d} |"
                      f" {r['bytes']:10,d} | {r['render_s']:10.2f}")
            ratio = {k: ours[k] / base[k] if base[k] else float("nan") for k in ours}
            print(f"{size:>11} | {'ratio':8} | {ratio['seconds']:7.3f} | {ratio['cpu_s']:7.3f} | {ratio['rss_mb']:7.3f} |"
                  f" {ratio['bytes']:10.5f} | {ratio['render_s']:10.3f}")


if __name__ == "__main__":
    main()
