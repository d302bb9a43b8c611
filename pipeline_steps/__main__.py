"""``python -m pipeline_steps`` runs the same CLI as the ``pipeline-steps`` console script."""

from pipeline_steps.cli import main

if __name__ == "__main__":
    main()
