"""Loopback HTTP stand-ins for servers that cannot be installed here (Kubernetes API, Jenkins,
Dynatrace). They keep the real APIs' semantics (status codes, conflicts, selectors) and are used
by tests and benchmarks only; they are not part of the installed package."""
