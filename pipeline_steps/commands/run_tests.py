"""``pipeline-steps run-tests``: parse flags, validate everything, resolve targets, run the step.

Everything that can be wrong with the input (workload file, overrides, target URL, context)
is checked here before the first request, so bad input exits 2 having sent nothing.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from pipeline_steps.commands.options import (
    Number,
    build_platform,
    context_from_options,
    context_options,
    out_dir_option,
    platform_options,
)
from pipeline_steps.errors import BadInputError, InfrastructureError
from pipeline_steps.finite import DAY_S
from pipeline_steps.secrets import split_url


def check_url(url: str, source: str) -> str:
    """An absolute http(s) URL with a host and a valid port, without query, fragment or credentials.

    A ``user:password@`` is split off before anything looks at the URL (``secrets.split_url``) and
    refused: the load test sends no credentials, and the target is written into testrun.json and the
    JUnit; messages show the URL with its password masked."""
    given = split_url(url)
    if given.has_credentials:
        raise BadInputError(source, None, "the URL carries credentials (user:password@ or a token before '@'; not "
                                          "shown); the tests send none, so give the address without them")
    try:
        parts = urlsplit(url)
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError as err:
        raise BadInputError(source, None, f"{given.shown!r} is not a URL: {err}") from err
    if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok or parts.query or parts.fragment:
        raise BadInputError(source, None, f"{given.shown!r} is not an http(s)://host[:port][/path] URL")
    return url.rstrip("/")


def unresolvable(url: str) -> str:
    """Why ``url``'s host name does not exist ("" when it resolves), so that a typo is reported now
    instead of as a health check failing after its timeout. A DNS server that does not answer
    (EAI_AGAIN) is not such a case: the health check waits for it."""
    host = urlsplit(url).hostname or ""
    try:
        socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        if err.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)):
            return f"host {host!r} does not resolve ({err.strerror}); nothing was sent"
    return ""


def parse_shard(text: str | None, performance: Any) -> Any:
    """``I/N`` (1 <= I <= N) as the engine's ``Part``; only for a performance test, and every shard needs a user."""
    from pipeline_steps.load.engine import WHOLE, Part
    from pipeline_steps.load.shards import shard_numbers

    if not text:
        return WHOLE
    numbers = shard_numbers(text)
    if numbers is None:
        raise BadInputError("command line", "--shard", f"must be I/N with 1 <= I <= N <= 9999, got {text[:20]!r}")
    part = Part(numbers[0] - 1, numbers[1])
    if part.stride == 1:
        return WHOLE
    if performance is None:
        raise BadInputError("command line", "--shard", "shards split a performance test; this run has none")
    if performance.model == "closed" and part.count(performance.users) == 0:
        raise BadInputError("command line", "--shard", f"shard {text} would have no user ({performance.users} users "
                                                       f"over {part.stride} shards)")
    return part


def parse_processes(text: str) -> int | None:
    """``auto`` -> None (``pool.default_processes`` decides), else a positive count."""
    if text == "auto":
        return None
    if not text.isdigit() or int(text) < 1:
        raise BadInputError("command line", "--processes", f"must be a positive number or auto, got {text!r}")
    return int(text)


@click.command("run-tests")
@context_options
@platform_options
@click.option("--service-config", envvar="SERVICE_CONFIG", default=None, type=click.Path(dir_okay=False),
              help="service.yaml: its `tests` names the workload and `health_path` the health check [env SERVICE_CONFIG].")
@click.option("--workload", default=None, type=click.Path(dir_okay=False),
              help="Workload YAML (health, functional, performance); default: service.yaml `tests`.")
@click.option("--target", default=None, help="Base URL for every test, instead of the platform's addresses.")
@click.option("--users", envvar="TEST_USERS", type=Number(minimum=1, maximum=100_000, integer=True), default=None,
              help="Override the performance test's users (connections) [env TEST_USERS].")
@click.option("--loops", envvar="TEST_LOOPS", type=Number(minimum=1, integer=True), default=None,
              help="Override loops per user (drops the file's duration) [env TEST_LOOPS].")
@click.option("--duration", envvar="TEST_DURATION", type=Number(above=0, maximum=DAY_S), default=None,
              help="Override the performance test's duration in seconds (drops the file's loops) [env TEST_DURATION].")
@click.option("--health-timeout", envvar="HEALTH_TIMEOUT", type=Number(above=0, maximum=DAY_S), default=None,
              help="Override how long the health check waits in seconds [env HEALTH_TIMEOUT].")
@out_dir_option("Where testrun.json, junit-tests.xml and the event go.")
@click.option("--shard", envvar="TEST_SHARD", default=None, metavar="I/N",
              help="Run shard I of N of the performance test (every N-th user, or 1/N of the rate); combine the "
                   "shards' testrun.json files with `testrun merge` [env TEST_SHARD].")
@click.option("--processes", envvar="TEST_PROCESSES", default="auto", show_default=True,
              help="Event loops (worker processes) for the load: a number, or auto (when users run flat out, one "
                   "per 200 users, at most one per core) [env TEST_PROCESSES].")
def run_tests(**options: Any) -> int:
    """Health check, then functional checks (test strategy functional) or a performance test
    (performance), judged by the workload's acceptance limits.

    Writes OUT/testrun.json (the quality gate's window and statistics) and OUT/junit-tests.xml.
    Exit code: 0 passed, 1 failed (health, a check, or a limit), 2 bad input (nothing sent),
    4 the platform (its address does not resolve, or a colour taking traffic is not observed in
    time; nothing sent), 130 interrupted (partial results written).
    """
    from dataclasses import replace

    from pipeline_steps.documents.service import ServiceSpec, load_service
    from pipeline_steps.load.workload import HealthSpec, check_overrides, load_workload, with_overrides
    from pipeline_steps.steps.run_tests import TestPlan, observe_before_load
    from pipeline_steps.steps.run_tests import run_tests as run_step

    ctx = context_from_options(options)
    check_overrides(users=options["users"], loops=options["loops"], duration_s=options["duration"])
    service = load_service(options["service_config"]) if options.get("service_config") else ServiceSpec.minimal(ctx.service)
    workload_path = options.get("workload") or (str(service.path(service.tests)) if service.tests else "")
    workload = load_workload(workload_path) if workload_path else None
    strategy = ctx.test_strategy
    if strategy and workload is None:
        raise BadInputError("--workload", None, f"test strategy {strategy!r} needs a workload file "
                                                "(--workload, or `tests:` in service.yaml)")
    if strategy == "functional" and workload is not None and not workload.functional:
        raise BadInputError(workload.source, "functional", "test strategy 'functional' needs at least one request here")
    performance = None
    if strategy == "performance" and workload is not None:
        if workload.performance is None:
            raise BadInputError(workload.source, "performance", "test strategy 'performance' needs this section")
        performance = with_overrides(workload.performance, users=options["users"], loops=options["loops"],
                                     duration_s=options["duration"])
    shard = parse_shard(options["shard"], performance)
    processes = parse_processes(options["processes"])
    health = workload.health if workload is not None else HealthSpec()
    if not health.path:
        health = replace(health, path=service.health_path)
    if options["health_timeout"] is not None:
        if options["health_timeout"] <= 0:
            raise BadInputError("command line", "--health-timeout", "must be positive")
        health = replace(health, timeout_s=options["health_timeout"])

    platform = None
    if options.get("target"):
        functional_url = performance_url = check_url(options["target"], "--target")
    else:
        platform = build_platform(options)
        endpoints = platform.endpoints(ctx)
        functional_url = check_url(endpoints.internal_url, f"platform {platform.name}: internal_url")
        performance_url = check_url(endpoints.public_url, f"platform {platform.name}: public_url")
    # every request (health included) goes to the public URL when a performance test runs, else the internal one
    used, name = (performance_url, "public_url") if performance else (functional_url, "internal_url")
    problem = unresolvable(used)
    if problem and options.get("target"):
        raise BadInputError("--target", None, problem)
    if problem:  # not the user's input: the platform's address (ingress, DNS) is wrong -> fail closed, exit 4
        raise InfrastructureError(f"platform {options['platform_name']}", f"{name} {used}: {problem}")

    if performance is not None and platform is not None:  # the load goes through the platform's route
        observe_before_load(platform, ctx, max(30.0, health.timeout_s))
    plan = TestPlan(context=ctx, health=health, workload=workload, performance=performance,
                    functional_url=functional_url, performance_url=performance_url, out_dir=Path(options["out_dir"]),
                    shard=shard, processes=processes)
    return int(run_step(plan))
