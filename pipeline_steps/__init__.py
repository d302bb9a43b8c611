"""pipeline-steps: quality-gated blue/green delivery for Jenkins.

Each step (deploy, run-tests, evaluate, evaluation-done) reads the previous step's small JSON
document, does one thing, writes its own and exits with a documented code. The map
(docs/architecture.md tells the data flow through it)::

    cli, __main__        the edge: lazy command loading; the one place errors become exit codes
    commands/            click only: parse flags, build collaborators, call one step, echo
    steps/               the spine in pipeline order: deploy, run_tests, evaluate, evaluation_done,
                         traffic (switch, rollback), chain (run), demo
    report/              JUnit, the gate summary, the HTML history report
    gate/                judging: perfspec + pitometer (Pitometer), slo + lighthouse (Keptn SLO), placeholders
    sources/ platforms/  the backend families, each one Protocol + one registry (SOURCES, PLATFORMS):
    load/ history/       metric sources, where versions run, the load engine, the evaluation history,
    jenkins/             the Jenkins controller
    documents/           everything read from or written to a file with a schema, and the values and
                         closed vocabularies (enums) they carry
    files, secrets,      one strict JSON/YAML reader, one atomic writer, one time format; secrets that mask
    finite               themselves; the one finite-and-in-range number check
    errors               one exception tree with the exit code on each class

The import rule, one way only (``tests/test_layers.py`` walks every import and fails on any exception)::

    commands -> steps -> report -> gate -> sources | platforms | load | history | jenkins -> documents
             -> files | secrets | finite -> errors

A room imports only rooms to its right; rooms on one rung (``|``) are siblings and never import
each other; a step never imports another step, a command only ``commands.options`` of its own
room, and nothing outside ``commands/`` imports ``commands/``. No backend is named outside its family.
"""

__version__ = "0.1.0"
