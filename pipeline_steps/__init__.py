"""pipeline-steps: quality-gated blue/green delivery for Jenkins.

The package is a set of steps (deploy, run-tests, evaluate, evaluation-done) that each read
the previous step's small JSON document, do one thing, write their own and exit with a
documented code. ``pipeline_steps.cli`` is the only place that turns errors into exit codes.
"""

__version__ = "0.1.0"
