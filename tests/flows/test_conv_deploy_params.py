"""The deployment files and their documentation name only parameters the flows have.

prefect.yaml and deployments/*.yaml declare deployments (entrypoint, parameters, a
description that says which parameters to pass); prefect.yaml's header and
deployments/README.md show `prefect deployment run` examples and a table of deployments.
Every parameter named there must be one Prefect accepts for that entrypoint's flow
(`Flow.validate_parameters`, what a deployment run goes through): issue 18 found a
documented backfill parameter `every` that the flow did not have.
"""

import importlib
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOYMENT_FILES = ("prefect.yaml", *sorted(p.name for p in (ROOT / "deployments").glob("*.yaml")))
DOCS = ("prefect.yaml", "deployments/README.md")
RUN_EXAMPLE = re.compile(r'prefect deployment run "[^"/]+/([\w-]+)"((?:\s+-p\s+[\w]+=\S+)+)')
PASS_LIST = re.compile(r"\bpass ([a-z_]+(?:, [a-z_]+)*)")
TABLE_ROW = re.compile(r"^\| `([\w-]+)` \| `([^`]+)` \| (.*) \|$", re.MULTILINE)
IDENTIFIER = re.compile(r"`([a-z_]+)`")


def _deployments() -> dict[str, dict]:
    found = {}
    for name in DEPLOYMENT_FILES:
        path = ROOT / name if name == "prefect.yaml" else ROOT / "deployments" / name
        for deployment in yaml.safe_load(path.read_text(encoding="utf-8"))["deployments"]:
            found[deployment["name"]] = deployment
    return found


def _flow(entrypoint: str):  # noqa: ANN202 - a prefect Flow
    path, name = entrypoint.split(":")
    return getattr(importlib.import_module(path.removesuffix(".py").replace("/", ".")), name)


def _parameters(entrypoint: str) -> set[str]:
    return set(_flow(entrypoint).parameters.properties)


def run_example_errors(text: str, deployments: dict[str, dict]) -> list[str]:
    """What is wrong with the `prefect deployment run ... -p k=v` examples of ``text``."""
    errors = []
    for deployment, options in RUN_EXAMPLE.findall(text):
        values = dict(p.split("=", 1) for p in re.findall(r"-p\s+(\S+)", options))
        entrypoint = deployments[deployment]["entrypoint"]
        unknown = sorted(set(values) - _parameters(entrypoint))
        if unknown:
            errors.append(f"{deployment}: {unknown} are not parameters of {entrypoint}")
        else:
            _flow(entrypoint).validate_parameters(values)
    return errors


@pytest.mark.parametrize("name", sorted(_deployments()))
def test_declared_parameters_and_description_match_the_flow(name: str) -> None:
    deployment = _deployments()[name]
    entrypoint = deployment["entrypoint"]
    accepted = _parameters(entrypoint)
    assert set(deployment.get("parameters") or {}) <= accepted
    _flow(entrypoint).validate_parameters(deployment.get("parameters") or {})
    for listed in PASS_LIST.findall(deployment.get("description", "")):
        assert set(listed.split(", ")) <= accepted, (name, listed, sorted(accepted))


@pytest.mark.parametrize("doc", DOCS)
def test_documented_run_examples_are_accepted(doc: str) -> None:
    text = (ROOT / doc).read_text(encoding="utf-8")
    assert RUN_EXAMPLE.search(text) or doc != "prefect.yaml", "the example run disappeared"
    assert run_example_errors(text, _deployments()) == []


def test_readme_table_names_flow_parameters() -> None:
    deployments = _deployments()
    rows = TABLE_ROW.findall((ROOT / "deployments" / "README.md").read_text(encoding="utf-8"))
    assert {name for name, _, _ in rows} == {"nightly", "backfill", "benchmark"}
    for name, entrypoint, text in rows:
        assert deployments[name]["entrypoint"] == entrypoint
        assert set(IDENTIFIER.findall(text)) <= _parameters(entrypoint), (name, text)


def test_an_unknown_documented_parameter_is_reported() -> None:
    text = 'prefect deployment run "raie-backfill/backfill" -p start=2024-01-01 -p every=1w'
    assert run_example_errors(text, _deployments()) == [
        "backfill: ['every'] are not parameters of flows/backfill.py:backfill"
    ]
