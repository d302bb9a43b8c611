"""The quality gate: spec loading (perfspec.json, slo.yaml + sli.yaml), grading, scoring, history."""
