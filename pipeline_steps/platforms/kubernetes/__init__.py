"""The Kubernetes/Istio platform: ``platform.py`` (``KubernetesPlatform``) on top of the chart
renderer (``chart.py``), the API edge (``client.py``), objects, routes (the weight edit), readiness
and the Lease lock. Imported only when chosen (``platforms.PLATFORMS``), so the local platform
never loads the kubernetes client.
"""
