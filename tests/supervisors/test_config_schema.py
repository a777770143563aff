"""The JSON Schema of config files: valid draft 2020-12, accepts every example, refuses mistakes."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
import yaml
from neural_actors.supervisors import config_json_schema

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = config_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_example_config_is_valid_under_the_schema(validator: jsonschema.Draft202012Validator, path: Path) -> None:
    """What the loader accepts in configs/, the schema accepts (variables and includes included)."""
    assert [] == [error.message for error in validator.iter_errors(yaml.safe_load(path.read_text()))]


@pytest.mark.parametrize(
    ("document", "where"),
    [
        ({"tree": {"id": "root"}, "tre": {}}, []),
        ({"tree": {"id": "root", "strategy": "one_for_al"}}, ["tree"]),
        ({"tree": {"id": "root", "period": "5 parsecs"}}, ["tree"]),
        ({"tree": {"id": "root", "children": [{"id": "a", "actor": "m:C", "restart": "permanant"}]}}, ["tree", "children"]),
        ({"runtime": {"clock": "virtul"}, "tree": {"id": "root"}}, ["runtime", "clock"]),
    ],
)
def test_the_schema_refuses_what_the_loader_refuses(
    validator: jsonschema.Draft202012Validator, document: dict, where: list[str]
) -> None:
    """Unknown sections, enum typos and bad durations are schema errors too, at their place."""
    errors = list(validator.iter_errors(document))

    assert errors
    assert where == list(errors[0].absolute_path)[: len(where)]


def test_the_schema_describes_keys_and_defaults() -> None:
    """Editors show each key's description and default, taken from the classes."""
    worker = config_json_schema()["$defs"]["WorkerNode"]["properties"]

    assert ("when the child is restarted", "permanent") == (worker["restart"]["description"], worker["restart"]["default"])
    assert ["permanent", "transient", "temporary"] == worker["restart"]["enum"]
