"""deploy/*.yaml and the Dockerfile stay true to the command: every option they pass exists
and parses, and the stop fits in the pod's grace period. (`.ci/run` validates the manifests
against the Kubernetes schemas and lints the Dockerfile.)"""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from batch_uploader.cli.run import run

REPO = Path(__file__).resolve().parent.parent
MANIFESTS = sorted((REPO / "deploy").glob("*.yaml"))


def pod_spec(document: dict[str, Any]) -> dict[str, Any]:
    if document["kind"] == "CronJob":
        document = document["spec"]["jobTemplate"]
    spec: dict[str, Any] = document["spec"]["template"]["spec"]
    return spec


def command_line(container: dict[str, Any]) -> list[str]:
    """The words batch-uploader is run with, a shell's arithmetic done for index 0."""
    words: list[str] = container.get("args", [])
    if container.get("command", [])[:2] == ["/bin/sh", "-c"]:
        script = re.sub(r"\$\(\(JOB_COMPLETION_INDEX \+ 1\)\)", "1", words[0])
        words = shlex.split(script)
        assert words[:2] == ["exec", "batch-uploader"], "the shell must hand signals on (exec)"
        words = words[2:]
    return words


def test_there_are_the_two_manifests_the_readme_describes() -> None:
    assert [path.name for path in MANIFESTS] == ["cronjob.yaml", "indexed-job.yaml"]


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda path: path.name)
def test_the_options_a_manifest_passes_parse(path: Path) -> None:
    container = pod_spec(yaml.safe_load(path.read_text()))["containers"][0]
    words = command_line(container)
    assert words[0] == "run"
    env = {item["name"]: item["value"] for item in container.get("env", [])}
    context = run.make_context("run", words[1:])
    for name, value in env.items():
        option = next(
            param
            for param in run.params
            if isinstance(param, click.Option) and param.envvar == name
        )
        option.type_cast_value(context, value)
    assert context.params["resume"], "a job started again must continue its report"
    assert context.params["api_key_file"] is not None


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda path: path.name)
def test_the_grace_period_covers_the_requests_in_flight(path: Path) -> None:
    spec = pod_spec(yaml.safe_load(path.read_text()))
    default_timeout = next(param.default for param in run.params if param.name == "timeout")
    assert isinstance(default_timeout, float)
    assert spec["terminationGracePeriodSeconds"] >= default_timeout + 20


def test_the_image_runs_the_console_script_as_a_non_root_user() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert f'ENTRYPOINT ["{next(iter(scripts))}"]' in dockerfile
    users = re.findall(r"^USER (\S+)$", dockerfile, flags=re.MULTILINE)
    assert users, "the image names no USER"
    assert users[-1] not in {"root", "0"}
    for path in MANIFESTS:
        spec = pod_spec(yaml.safe_load(path.read_text()))
        assert str(spec["securityContext"]["runAsUser"]) == users[-1]
