"""Benchmark: idle CPU and memory (PSS) per service of the local platform at 150 services, side by
side with the baseline: the same platform as it was before issue 15 (main at ``BASELINE``: every
colour and Envoy scraped each second, Envoy's full statistics, admin on TCP).

A *service* here is one service in one blue/green stage, which is what the platform runs per
``deploy``: two colour processes (the carts example, each under its ``sh`` wrapper), one Envoy,
and a 1/N share of the state folder's one Prometheus. Both configurations deploy N such services
through ``LocalPlatform.apply`` of their own code (the baseline from ``git archive BASELINE``),
wait ``--settle`` seconds, then measure for ``--measure`` seconds:

* idle CPU: utime + stime (proc(5) ``stat`` fields 14-15, all threads) of every process under the
  run's folder, delta over the window, per service, in % of one core;
* memory: ``Pss`` of ``/proc/<pid>/smaps_rollup`` summed over the same processes, per service
  (PSS splits shared pages between the processes sharing them, so the sum is what they cost).

Nothing sends requests: idle is scraping, Envoy's timers and the services' own polling. The
targets (issue 15): <= 0.25 % of a core and < 50 MB per service at 150 services.

The baseline cannot run 150: each of its Envoys holds two inotify instances (filesystem xDS) and
Linux allows 128 per user by default, so its 60th Envoy aborts. It is measured at
``--baseline-services`` (default 50), which also leaves other users' Envoys on a shared machine
room to start; per-service figures at different counts differ only by the share of Prometheus
and of shared pages, both of which shrink with more services (so the comparison favours main).
Run: python3 bench/local_idle_footprint.py [--services 150] [--settle 30] [--measure 60]
(about 10 minutes at 150 services; the machine needs ~15 GB free).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline_steps.platforms.local.build import build  # noqa: E402
from pipeline_steps.platforms.local.procs import all_pids, proc_cmdline, proc_stat  # noqa: E402

BASELINE = "e9686cf"
"""main before the local platform's changes for issues 12 and 15."""
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

DRIVER = r'''
import inspect, sys, time
from pathlib import Path
from pipeline_steps.documents.context import StageContext
from pipeline_steps.documents.service import load_service
from pipeline_steps.platforms.local import monitoring
from pipeline_steps.platforms.local.platform import LocalPlatform
mode, state, image, count, interval, service_yaml = sys.argv[1:7]
kwargs = {"auto_prometheus": True}
if interval and "scrape_interval" in inspect.signature(LocalPlatform).parameters:
    kwargs["scrape_interval"] = interval
platform = LocalPlatform(state, **kwargs)
if mode == "down":
    for ctx in list(platform.contexts([])):
        platform.stop_stage(ctx)
    monitoring.stop(platform.state)
    sys.exit(0)
service = load_service(service_yaml)
started = time.monotonic()
deployed, why = 0, ""
for i in range(int(count)):
    ctx = StageContext("bench", "staging", f"svc{i}", image=image, tag="1", deployment_strategy="blue_green_service")
    try:
        platform.apply(ctx, "blue", service)
        platform.wait_available(ctx, "blue", 120)
        platform.wait_available(ctx, "green", 120)
    except Exception as err:  # the platform's limit is a result: report it, measure what runs
        why = str(err).split(" | ")[0][:300]
        platform.stop_stage(ctx)
        break
    deployed += 1
print(f"deployed {deployed} of {count} services in {time.monotonic() - started:.0f}s" + (f"; stopped: {why}" if why else ""))
print(deployed, flush=True)
'''


@dataclass
class Footprint:
    label: str
    services: int
    cpu_s: dict[str, float] = field(default_factory=dict)
    pss_mb: dict[str, float] = field(default_factory=dict)
    count: dict[str, int] = field(default_factory=dict)
    window_s: float = 0.0

    def cpu_pct(self, kind: str | None = None) -> float:
        total = sum(v for k, v in self.cpu_s.items() if kind in (None, k))
        return 100.0 * total / self.window_s / self.services

    def pss(self, kind: str | None = None) -> float:
        return sum(v for k, v in self.pss_mb.items() if kind in (None, k)) / self.services


def kind_of(argv: list[bytes]) -> str:
    name = os.path.basename(argv[0]).decode(errors="replace") if argv else "?"
    if name == "sh":
        return "wrappers (sh)"
    if name == "envoy":
        return "envoy"
    if name == "prometheus":
        return "prometheus"
    return "colours (carts)" if any(a.endswith(b"app.py") for a in argv) else name


def processes_under(root: Path) -> dict[int, str]:
    """Every live process whose working folder or command line lies under ``root``."""
    found = {}
    text = str(root).encode()
    for pid in all_pids():
        argv = proc_cmdline(pid)
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd").encode()
        except OSError:
            continue
        if pid != os.getpid() and (cwd.startswith(text) or any(text in a for a in argv)):
            found[pid] = kind_of(argv)
    return found


def cpu_seconds(pid: int) -> float:
    stat = proc_stat(pid)
    return (int(stat[11]) + int(stat[12])) / CLOCK_TICKS if len(stat) > 12 else 0.0


def pss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def measure(label: str, tree: Path, workdir: Path, args: argparse.Namespace, interval: str, count: int) -> Footprint:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    state = workdir / "state"
    image = str(workdir / "images" / "carts")  # the colours run in it: under workdir, so they are counted
    build(ROOT / "examples" / "carts", image, "1", {"version": "v1"})
    argv = [sys.executable, "-c", DRIVER]
    rest = [str(state), image, str(count), interval, str(ROOT / "examples" / "carts" / "service.yaml")]
    print(f"[{label}] deploying {count} services ...", flush=True)
    try:
        up = subprocess.run([*argv, "up", *rest], env=env, check=True, cwd=workdir, capture_output=True, text=True)
        *lines, count = up.stdout.strip().splitlines()
        print(f"[{label}] " + "\n".join(lines), flush=True)
        time.sleep(args.settle)
        pids = processes_under(workdir)
        before = {pid: cpu_seconds(pid) for pid in pids}
        start = time.monotonic()
        time.sleep(args.measure)
        result = Footprint(label, int(count), window_s=time.monotonic() - start)
        for pid, kind in pids.items():
            result.cpu_s[kind] = result.cpu_s.get(kind, 0.0) + max(0.0, cpu_seconds(pid) - before[pid])
            result.pss_mb[kind] = result.pss_mb.get(kind, 0.0) + pss_mb(pid)
            result.count[kind] = result.count.get(kind, 0) + 1
        return result
    finally:
        subprocess.run([*argv, "down", *rest], env=env, check=False, cwd=workdir)


def baseline_tree(into: Path) -> Path:
    """``BASELINE``'s package, unpacked from git (the code as it ran before)."""
    archive = into / "baseline.tar"
    subprocess.run(["git", "-C", str(ROOT), "archive", "-o", str(archive), BASELINE, "pipeline_steps"], check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into / "baseline", filter="data")
    return into / "baseline"


def report(results: list[Footprint]) -> None:
    base, ours = results
    kinds = sorted(set(base.cpu_s) | set(ours.cpu_s))
    print(f"\nservices running: {base.label} {base.services}, {ours.label} {ours.services}; "
          f"{ours.window_s:.0f} s idle window; per service:")
    print(f"{'':18} {'CPU % of a core':>26} {'PSS MB':>24}")
    print(f"{'':18} {base.label:>12} {ours.label:>13} {base.label:>11} {ours.label:>12}")
    for kind in [*kinds, None]:
        name = kind or "total"
        print(f"{name:18} {base.cpu_pct(kind):12.3f} {ours.cpu_pct(kind):13.3f} {base.pss(kind):11.1f} {ours.pss(kind):12.1f}")
    cpu_ratio = ours.cpu_pct() / base.cpu_pct() if base.cpu_pct() else float("nan")
    pss_ratio = ours.pss() / base.pss() if base.pss() else float("nan")
    print(f"\nratio {ours.label}/{base.label}: idle CPU {cpu_ratio:.2f}, PSS {pss_ratio:.2f}")
    print(f"processes: {ours.count}")
    cpu_ok, pss_ok = ours.cpu_pct() <= 0.25, ours.pss() < 50.0
    print(f"targets: idle CPU <= 0.25 % per service: {'met' if cpu_ok else 'NOT met'} ({ours.cpu_pct():.3f} %); "
          f"PSS < 50 MB per service: {'met' if pss_ok else 'NOT met'} ({ours.pss():.1f} MB); "
          f"{ours.services} services use {ours.cpu_pct() * ours.services / 100:.2f} of 2 cores idle")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=150)
    parser.add_argument("--baseline-services", type=int, default=50, help="services of the baseline (see above)")
    parser.add_argument("--settle", type=float, default=30.0, help="seconds after the last deploy before measuring")
    parser.add_argument("--measure", type=float, default=60.0, help="seconds of the idle window")
    parser.add_argument("--interval", default="", help="scrape interval of ours (default: the platform's default)")
    args = parser.parse_args()
    from pipeline_steps.platforms.local.monitoring import DEFAULT_SCRAPE_INTERVAL

    with tempfile.TemporaryDirectory(prefix="idle-footprint-") as tmp:
        root = Path(tmp)
        results = [
            measure(f"main@{BASELINE}", baseline_tree(root), root / "base", args, "",
                    min(args.services, args.baseline_services)),
            measure(f"ours@{args.interval or DEFAULT_SCRAPE_INTERVAL}", ROOT, root / "ours", args, args.interval,
                    args.services),
        ]
    report(results)


if __name__ == "__main__":
    main()
