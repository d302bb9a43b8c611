"""``pipeline-steps demo``: play the use case on the local platform (see pipeline_steps/steps/demo.py)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("demo")
@click.option("--workdir", default="demo-run", show_default=True, type=click.Path(file_okay=False),
              help="Folder for the platform state, artifacts, outputs and history (recreated).")
@click.option("--test-duration", default=15, show_default=True, type=click.IntRange(3, 3600),
              help="Seconds of the staging performance test per version.")
@click.option("--users", default=10, show_default=True, type=click.IntRange(1, 500), help="Virtual users of the load test.")
@click.option("--keep", is_flag=True, help="Leave Envoy, Prometheus and the carts processes running afterwards.")
@click.option("--no-prometheus", is_flag=True, help="Gate on the load test's own measurements even if Prometheus is installed.")
@click.option("--scrape-interval", default="500ms", show_default=True,
              help="How often the demo's Prometheus scrapes; --test-duration must span two intervals.")
def demo(*, workdir: str, test_duration: int, users: int, keep: bool, no_prometheus: bool, scrape_interval: str) -> int:
    """Onboard carts v1, stop the slow v2 in staging, promote the fixed v3 to production.

    Prints the story as it happens (stage, step, verdict, weights), checks it, and ends with the
    HTML report's path. Exit 0 when the use case played as described, 1 otherwise, 2 for settings
    that cannot tell it (a --test-duration shorter than two scrape intervals), before anything runs.
    """
    from pipeline_steps.steps.demo import DemoSettings, examples_dir, play

    examples = examples_dir()
    settings = DemoSettings(workdir=Path(workdir).resolve(), source=examples / "carts", shipyard=examples / "shipyard.yaml",
                            test_duration=test_duration, users=users, keep=keep, use_prometheus=not no_prometheus,
                            scrape_interval=scrape_interval)
    return play(settings, printer=click.echo)
