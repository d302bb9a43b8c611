"""The state the Jenkins stand-in (``standins/jenkins.py``) keeps: jobs with their stored config.xml,
queue items and builds, and how a scripted build ends (``BuildScript``).

Kept apart from the HTTP handling so the server module stays about routing. ``stored_config`` is what
Jenkins makes of a posted config.xml: core's ``XmlFile`` writes its own declaration
(``<?xml version='1.1' encoding='UTF-8'?>``) when it saves an item, and the text a client reads back is
not byte for byte what it posted, so a client must compare config.xml by meaning, not by text.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from xml.etree import ElementTree

XML_DECLARATION = "<?xml version='1.1' encoding='UTF-8'?>"
"""What jenkins core's XmlFile.write puts first when it stores an item's config.xml."""
_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>\s*")


def stored_config(posted: str) -> str:
    """config.xml as the stand-in keeps it after a POST: the declaration rewritten to XmlFile's, and a
    comment line added, so the text differs from what was posted while the XML means the same."""
    body = _DECLARATION.sub("", posted, count=1)
    return f"{XML_DECLARATION}\n<!-- stored by Jenkins: read it back by its XML, not its text -->\n{body}"


@dataclass
class BuildScript:
    """How the next builds of a job behave."""

    result: str = "SUCCESS"
    """SUCCESS | UNSTABLE | FAILURE | ABORTED | NOT_BUILT."""
    console: list[str] = field(default_factory=lambda: ["[Pipeline] sh", "+ pipeline-steps deploy"])
    duration_s: float = 0.4
    """Console lines are released evenly over this time; the build ends after it."""
    tests: list[tuple[str, str, str]] | None = None
    """(suite, case, PASSED|FAILED|SKIPPED) for testReport; None: the build published no JUnit."""


@dataclass
class Build:
    job: str
    number: int
    params: dict[str, str]
    script: BuildScript
    started: float
    aborted_at: float | None = None

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def building(self) -> bool:
        return self.aborted_at is None and self.elapsed() < self.script.duration_s

    @property
    def result(self) -> str | None:
        if self.aborted_at is not None:
            return "ABORTED"
        return None if self.building else self.script.result

    def log(self) -> str:
        """The console so far: the lines released by now, then Jenkins' final line."""
        lines = [f"Started by remote API; parameters: {', '.join(sorted(self.params))}"]
        script_lines = self.script.console
        if self.building:
            shown = int(len(script_lines) * self.elapsed() / max(self.script.duration_s, 1e-6))
            lines += script_lines[:shown]
        else:
            lines += script_lines
            lines.append(f"Finished: {self.result}")
        return "".join(line + "\n" for line in lines)


@dataclass
class QueueItem:
    id: int
    job: str
    params: dict[str, str]
    queued: float
    build: Build | None = None


@dataclass
class Job:
    name: str
    config_xml: str
    builds: list[Build] = field(default_factory=list)
    script: BuildScript = field(default_factory=BuildScript)

    def parameter_names(self) -> list[str]:
        """Names from ``<parameterDefinitions>`` in config.xml (any *ParameterDefinition)."""
        try:
            root = ElementTree.fromstring(self.config_xml.encode("utf-8"))
        except ElementTree.ParseError:
            return []
        return [n.text or "" for d in root.iter() if d.tag.endswith("ParameterDefinition") for n in d.findall("name")]

    @property
    def is_folder(self) -> bool:
        """A multibranch project or folder: "Build" re-scans it, it has no builds of its own."""
        try:
            root = ElementTree.fromstring(self.config_xml.encode("utf-8"))
        except ElementTree.ParseError:
            return False
        return root.tag in ("org.jenkinsci.plugins.workflow.multibranch.WorkflowMultiBranchProject",
                            "com.cloudbees.hudson.plugins.folder.Folder")


