"""JSON bodies of the Jenkins stand-in (``standins/jenkins.py``) in the shapes Jenkins' REST API
returns them: job, build, queue parameters and the JUnit testReport, with their ``_class`` keys.

Kept apart from the HTTP handling so the server module stays about routing and state.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from standins.jenkins import Build, JenkinsStandIn, Job


def param_values(params: dict[str, str]) -> list[dict[str, str]]:
    return [{"_class": "hudson.model.StringParameterValue", "name": k, "value": v} for k, v in sorted(params.items())]


def job_url(owner: JenkinsStandIn, name: str) -> str:
    """Jenkins' URL of an item: one ``job/<name>/`` segment per folder level."""
    return owner.url + "".join(f"job/{part}/" for part in name.split("/"))


def job_info(owner: JenkinsStandIn, job: Job) -> dict[str, Any]:
    url = job_url(owner, job.name)
    if job.is_folder:  # folders and multibranch projects have jobs, not builds, and no "buildable"
        return {"_class": "org.jenkinsci.plugins.workflow.multibranch.WorkflowMultiBranchProject",
                "name": job.name.split("/")[-1], "fullName": job.name, "url": url, "jobs": []}
    builds = [{"_class": "org.jenkinsci.plugins.workflow.job.WorkflowRun", "number": b.number, "url": f"{url}{b.number}/"}
              for b in reversed(job.builds)]
    return {
        # Jenkins: name is the item's own name, fullName its path (python-jenkins checks name against the last segment).
        "_class": "org.jenkinsci.plugins.workflow.job.WorkflowJob", "name": job.name.split("/")[-1], "fullName": job.name,
        "url": url,
        "buildable": True, "builds": builds, "lastBuild": builds[0] if builds else None,
        "nextBuildNumber": len(job.builds) + 1,
        "inQueue": any(i.job == job.name and i.build is None for i in owner.queue.values()),
        # Like Jenkins: the property is there only when the job declares parameters.
        "property": [{"_class": "hudson.model.ParametersDefinitionProperty", "parameterDefinitions": [
            {"_class": "hudson.model.StringParameterDefinition", "name": n, "type": "StringParameterDefinition"}
            for n in job.parameter_names()]}] if job.parameter_names() else [],
    }


def build_info(owner: JenkinsStandIn, build: Build) -> dict[str, Any]:
    return {
        "_class": "org.jenkinsci.plugins.workflow.job.WorkflowRun", "number": build.number, "id": str(build.number),
        "url": f"{job_url(owner, build.job)}{build.number}/", "displayName": f"#{build.number}",
        "fullDisplayName": f"{build.job} #{build.number}", "building": build.building, "result": build.result,
        "duration": 0 if build.building else int(build.script.duration_s * 1000),
        "estimatedDuration": int(build.script.duration_s * 1000), "timestamp": int(time.time() * 1000),
        "actions": [{"_class": "hudson.model.ParametersAction", "parameters": param_values(build.params)}],
    }


def test_report(tests: list[tuple[str, str, str]]) -> dict[str, Any]:
    suites: dict[str, list[dict[str, Any]]] = {}
    for suite, case, status in tests:
        suites.setdefault(suite, []).append({
            "className": suite, "name": case, "status": status, "duration": 0.01,
            "errorDetails": "threshold breached" if status == "FAILED" else None, "skipped": status == "SKIPPED"})
    statuses = [t[2] for t in tests]
    return {
        "_class": "hudson.tasks.junit.TestResult", "duration": 0.01 * len(tests), "empty": not tests,
        "failCount": statuses.count("FAILED"), "passCount": statuses.count("PASSED"), "skipCount": statuses.count("SKIPPED"),
        "suites": [{"name": name, "cases": cases, "duration": 0.0} for name, cases in suites.items()],
    }
