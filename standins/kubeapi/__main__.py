"""Run the Kubernetes API stand-in alone: ``python -m standins.kubeapi --port 0 --kubeconfig FILE``.

Prints the URL on stdout (one line) once it listens, so a script or a subprocess test can
connect; stops on SIGTERM/SIGINT. ``--istio v1beta1,v1alpha3`` serves Istio 1.21's versions
(``--istio ''``: no Istio), ``--lag``/``--step`` make the Deployment controller as slow as a
real one.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from standins.kubeapi import KubeApiStandIn, write_kubeconfig
from standins.kubeapi.resources import ISTIO, ISTIO_VERSIONS, MONITORING


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--kubeconfig", default="")
    parser.add_argument("--ready-delay", type=float, default=0.0)
    parser.add_argument("--istio", default=",".join(ISTIO_VERSIONS), help="served networking.istio.io versions")
    parser.add_argument("--monitoring", action="store_true", help="serve monitoring.coreos.com/v1 (Prometheus Operator)")
    parser.add_argument("--lag", type=float, default=0.0, help="seconds before the controller notices a change")
    parser.add_argument("--step", type=float, default=0.0, help="seconds between rollout steps")
    parser.add_argument("--anonymous", action="store_true",
                        help="let requests without a token act as the pipeline's user (kubectl sends no token over "
                             "plain HTTP); without it they are refused, as on a real cluster")
    args = parser.parse_args()
    served = {ISTIO: tuple(v for v in args.istio.split(",") if v)}
    if args.monitoring:
        served[MONITORING] = ("v1",)
    api = KubeApiStandIn(args.port, ready_delay_s=args.ready_delay, served=served, lag_s=args.lag,
                         step_s=args.step).start()
    if args.anonymous:
        api.anonymous_as = api.access.user
    if args.kubeconfig:
        write_kubeconfig(api.url, args.kubeconfig)
    print(api.url, flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    api.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()
