"""The deploy, switch, rollback and status commands end to end on the Kubernetes platform (stand-in).

Aspects: deploy writes deployment.json and reports the verified flip; status shows one screen
(text) and a stable JSON document with marks and the live colour; switch is verified and a
second run says unchanged; rollback with only --deployment takes the context from the file;
bad input exits 2 having sent no write to the API; the kubeconfig's token never appears in
output or errors; an unreachable API server exits 4 with a one-line message.
"""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from pipeline_steps.cli import cli
from pipeline_steps.platforms.kubernetes.platform import KubernetesPlatform
from standins.kubeapi import KubeApiStandIn, write_kubeconfig
from tests.platforms.kubernetes.conftest import bg

CONTEXT = ["--project", "sockshop", "--stage", "staging", "--service", "carts"]


def run(kubeconfig: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, [*args, "--platform", "kubernetes", "--kubeconfig", str(kubeconfig)],
                              catch_exceptions=False, env={"KUBECONFIG": None, "PIPELINE_STEPS_PLATFORM": None})


def deploy(kubeconfig: Path, out: Path, tag: str) -> Result:
    return run(kubeconfig, "deploy", *CONTEXT, "--image", "repo/carts", "--tag", tag,
               "--deployment-strategy", "blue_green_service", "--out-dir", str(out), "--timeout", "5")


def test_deploy_status_switch_rollback(api: KubeApiStandIn, kubeconfig: Path, platform: KubernetesPlatform,
                                       tmp_path: Path) -> None:
    assert deploy(kubeconfig, tmp_path / "one", "1").exit_code == 0
    second = deploy(kubeconfig, tmp_path / "two", "2")
    assert second.exit_code == 0, second.output
    assert "as green; traffic blue 100 / green 0 -> blue 0 / green 100 (verified)" in second.output
    record = json.loads((tmp_path / "two" / "deployment.json").read_text())
    assert record["colour"] == "green" and record["weights_before"] == {"blue": 100, "green": 0}
    event = json.loads((tmp_path / "two" / "events" / "deployment-finished.json").read_text())
    assert event["type"] == "sh.keptn.events.deployment-finished" and event["data"]["deployment"]["colour"] == "green"

    platform.mark(bg(), "blue", "passed")
    text = run(kubeconfig, "status", *CONTEXT)
    assert text.exit_code == 0
    assert "carts in sockshop-staging (kubernetes, blue_green_service)" in text.output
    green_line = next(line for line in text.output.splitlines() if line.strip().startswith("green"))
    assert "repo/carts:2" in green_line and "1/1" in green_line and "<- live" in green_line
    doc = json.loads(run(kubeconfig, "status", *CONTEXT, "--output", "json").output)
    assert doc["live"] == "green" and doc["weights"] == {"blue": 0, "green": 100}
    assert [(c["colour"], c["tag"], c["mark"], c["weight"]) for c in doc["colours"]] == [
        ("blue", "1", "passed", 0), ("green", "2", "", 100)]

    flip = run(kubeconfig, "switch", *CONTEXT, "--weights", "90/10")
    assert flip.exit_code == 0 and "switched" in flip.output and "blue 90 / green 10" in flip.output
    again = run(kubeconfig, "switch", *CONTEXT, "--weights", "90/10")
    assert again.exit_code == 0 and again.output.startswith("unchanged")

    back = run(kubeconfig, "rollback", "--deployment", str(tmp_path / "two" / "deployment.json"))
    assert back.exit_code == 0, back.output
    assert "-> blue 100 / green 0" in back.output
    assert platform.status(bg()).weights is not None and platform.status(bg()).live == "blue"


def test_bad_input_exits_2_without_writes(api: KubeApiStandIn, kubeconfig: Path, tmp_path: Path) -> None:
    assert deploy(kubeconfig, tmp_path, "1").exit_code == 0
    api.requests.clear()
    bad_weights = run(kubeconfig, "switch", *CONTEXT, "--weights", "60/60")
    assert bad_weights.exit_code == 2 and "must sum to 100" in bad_weights.output
    no_tag = run(kubeconfig, "deploy", *CONTEXT, "--image", "repo/carts", "--deployment-strategy", "blue_green_service",
                 "--out-dir", str(tmp_path / "x"))
    assert no_tag.exit_code == 2 and "--tag" in no_tag.output
    (tmp_path / "broken.json").write_text('{"schema": "pipeline-steps/deployment/v1", "context": {}}')
    broken = run(kubeconfig, "rollback", "--deployment", str(tmp_path / "broken.json"))
    assert broken.exit_code == 2 and "broken.json" in broken.output
    assert [r for r in api.requests if r.method != "GET"] == []


def test_unreachable_api_exits_4_without_token(tmp_path: Path) -> None:
    server = KubeApiStandIn().start()
    url = server.url
    server.stop()
    kubeconfig = write_kubeconfig(url, tmp_path / "kubeconfig")
    result = run(kubeconfig, "status", *CONTEXT)
    assert result.exit_code == 4
    assert result.output.startswith("error: kubernetes: ") and "could not reach the API server" in result.output
    assert "standin-token" not in result.output
