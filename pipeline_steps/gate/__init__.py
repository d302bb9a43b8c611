"""The quality gate: spec loading (perfspec.json; slo.yaml + sli.yaml), grading, scoring and the
judgement of each dialect (``pitometer.judge``, ``lighthouse.judge``), as pure functions where it
matters. May import: sources (the Protocol, to check and fill queries), history (the comparison
pool's type), documents, files, secrets, errors; never report, steps or commands.
"""
