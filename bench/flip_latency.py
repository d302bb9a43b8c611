"""Benchmark: time from "flip requested" to "flip verified", and API round trips per flip, on the
Kubernetes API stand-in; side by side with a bare ``kubectl patch`` of the same VirtualService
through the same stand-in (the peer: what a Jenkinsfile with ``sh 'kubectl patch ...'`` does).

Measured per flip (blue 100 -> green 100 and back, alternating):
* ``set_weights``: the platform's flip: availability check of the colours (one Deployment list),
  read the VirtualService, merge-patch its http routes with the resourceVersion, read back and
  verify. Round trips counted on the server side, by method and resource.
* ``switch`` step: the same plus the Lease lock (create, read, delete) and the status read.
* ``kubectl patch --type merge``: one process per patch, discovery cache warm; no availability
  check, no concurrency guard, no verification.

The stand-in runs in this process (a thread), so our client shares the GIL with the server and
kubectl does not: the comparison is, if anything, tilted against us.
Run: python3 bench/flip_latency.py [--flips 40]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline_steps.documents.context import StageContext
from pipeline_steps.documents.service import ServiceSpec
from pipeline_steps.documents.weights import Weights
from pipeline_steps.platforms.kubernetes.client import Kube, api_client
from pipeline_steps.platforms.kubernetes.platform import KubernetesPlatform
from pipeline_steps.steps.deploy import DeployOptions, deploy
from pipeline_steps.steps.traffic import switch
from standins.kubeapi import KubeApiStandIn, write_kubeconfig

CTX = StageContext(project="bench", stage="prod", service="carts", image="repo/carts", tag="1",
                   deployment_strategy="blue_green_service")


def kind_of(method: str, path: str) -> str:
    """``PATCH virtualservices``: the method and the resource a request addressed."""
    parts = path.split("?")[0].strip("/").split("/")
    known = ("deployments", "virtualservices", "leases", "namespaces", "services", "pods")
    return f"{method} {next((p for p in reversed(parts) if p in known), parts[-1])}"


def summarise(label: str, times: list[float], trips: list[collections.Counter[str]]) -> float:
    median = statistics.median(times) * 1000
    p90 = sorted(times)[int(0.9 * (len(times) - 1))] * 1000
    per_flip = statistics.mean(sum(t.values()) for t in trips)
    kinds = collections.Counter[str]()
    for t in trips:
        kinds.update(t)
    breakdown = ", ".join(f"{k} {v / len(trips):g}" for k, v in sorted(kinds.items()))
    print(f"{label:<34} median {median:7.2f} ms  p90 {p90:7.2f} ms  round trips/flip {per_flip:g} ({breakdown})")
    return median


def timed(api: KubeApiStandIn, action: object, flips: int) -> tuple[list[float], list[collections.Counter[str]]]:
    times, trips = [], []
    for i in range(flips):
        target = Weights.all_to("green" if i % 2 == 0 else "blue")
        api.requests.clear()
        started = time.perf_counter()
        action(target)  # type: ignore[operator]
        times.append(time.perf_counter() - started)
        trips.append(collections.Counter(kind_of(r.method, r.path) for r in list(api.requests)))
    return times, trips


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flips", type=int, default=40)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="flip-bench-"))
    with KubeApiStandIn() as api:
        kubeconfig = write_kubeconfig(api.url, work / "kubeconfig")
        platform = KubernetesPlatform(Kube(api_client(str(kubeconfig), None), timeout_s=10), poll_s=0.05)
        deploy(platform, CTX, ServiceSpec.minimal("carts"), work / "d1.json")
        deploy(platform, StageContext(**{**CTX.to_dict(), "tag": "2"}), ServiceSpec.minimal("carts"), work / "d2.json",
               DeployOptions(switch=False))
        print(f"flip latency on the Kubernetes API stand-in ({args.flips} flips each, alternating blue/green)")
        ours = summarise("pipeline-steps set_weights", *timed(api, lambda w: platform.set_weights(CTX, w), args.flips))
        summarise("pipeline-steps switch (step)", *timed(api, lambda w: switch(platform, CTX, w, "bench"), args.flips))

        kubectl = shutil.which("kubectl")
        if kubectl is None:
            print("kubectl not found: no peer comparison")
            return
        env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
        api.anonymous_as = api.access.user  # kubectl sends no token over plain HTTP (standins/kubeapi/authn.py)
        vs = platform.routes.read(CTX, "carts")
        assert vs is not None

        def patch(weights: Weights) -> None:
            http = json.loads(json.dumps(vs["spec"]["http"]))
            for destination in http[0]["route"]:
                destination["weight"] = weights.of(destination["destination"]["subset"])
            subprocess.run([kubectl, "patch", "virtualservice", "carts", "-n", CTX.namespace, "--type", "merge", "-p",
                            json.dumps({"spec": {"http": http}}), "--cache-dir", str(work / "kcache")],
                           env=env, check=True, capture_output=True, timeout=60)

        patch(Weights(100, 0))  # warm kubectl's discovery cache, as on any CI agent after the first call
        theirs = summarise("kubectl patch --type merge", *timed(api, patch, max(10, args.flips // 2)))
        print(f"ratio pipeline-steps set_weights / kubectl patch: {ours / theirs:.3f} "
              f"(below 1 = faster, while also checking availability and verifying by read-back)")


if __name__ == "__main__":
    main()
