"""Metric sources behind one Protocol: prometheus, dynatrace, testrun."""
