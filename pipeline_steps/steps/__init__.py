"""The steps, the spine of the pipeline in its order: ``deploy``, ``run_tests``, ``evaluate``,
``evaluation_done``, plus ``traffic`` (switch, rollback), ``chain`` (``run``: every step of every
stage, through the CLI as Jenkins runs them) and ``demo`` (the use case on the local platform).

A step takes its collaborators as arguments (a ``Platform``, sources, a history store), so tests
pass fakes or stand-ins the way the CLI passes real ones, and it writes its own documents and
event. May import: report, gate, the families (sources, platforms, load, history), documents,
files, secrets, errors; never another step, never ``commands/``.
"""
