"""The local platform: ``platform.py`` (``LocalPlatform``), a process per colour (``processes.py``),
a real Envoy per stage (``envoy.py``), a real Prometheus (``monitoring.py`` over
``prometheus_server.py``), the state folder (``state.py``), ``local build`` (``build.py``) and
everything about local processes (``procs.py``: start, /proc, stop, HTTP readiness).
"""
