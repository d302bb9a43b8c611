"""The local platform."""
