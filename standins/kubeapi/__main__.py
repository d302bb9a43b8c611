"""Run the Kubernetes API stand-in alone: ``python -m standins.kubeapi --port 0 --kubeconfig FILE``.

Prints the URL on stdout (one line) once it listens, so a script or a subprocess test can
connect; stops on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from standins.kubeapi import KubeApiStandIn, write_kubeconfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--kubeconfig", default="")
    parser.add_argument("--ready-delay", type=float, default=0.0)
    args = parser.parse_args()
    api = KubeApiStandIn(args.port, ready_delay_s=args.ready_delay).start()
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
