"""The Kubernetes/Istio platform."""
