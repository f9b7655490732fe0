"""preview_tree: the expected fields of a payload, from inferred schemas and hand-written JSON Schemas."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from triggers.preview import MAX_NODES, preview_tree
from triggers.schemas import infer_schema

SENDERS = Path(__file__).resolve().parents[1] / "fixtures" / "senders"


def flatten(nodes: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for node in nodes:
        found[node["path"]] = node
        found.update(flatten(node["children"]))
    return found


def fixture(name: str) -> Any:
    return json.loads((SENDERS / name).read_text())


def test_a_tree_inferred_from_a_github_payload_shows_its_fields_with_examples() -> None:
    labeled = fixture("github/issues/labeled.json")
    nodes = flatten(preview_tree(infer_schema([labeled]), [labeled]))
    title = nodes["issue.title"]
    assert title == {
        "path": "issue.title",
        "name": "title",
        "types": ["string", "null"],
        "required": False,
        "example": "Export button does nothing on Safari",
        "children": [],
    }
    assert nodes["issue.labels"]["types"] == ["array", "null"]
    assert nodes["issue.labels[*].name"]["example"] == "bug"
    assert nodes["issue.number"]["types"] == ["number", "null"]
    assert nodes["issue.closed_at"]["types"] == []  # null in the sample: any type
    assert nodes['issue.reactions["+1"]']["name"] == "+1"
    assert nodes["issue"]["example"] is None and nodes["issue"]["children"]


def test_examples_come_from_the_first_sample_with_a_value() -> None:
    samples = [{"a": None, "b": [{"c": None}]}, {"a": "second", "b": [{"c": 3}]}]
    nodes = flatten(preview_tree(infer_schema(samples), samples))
    assert nodes["a"]["example"] == "second" and nodes["b[*].c"]["example"] == 3


def test_a_json_schema_gives_required_flags_and_examples_from_the_schema() -> None:
    schema = {
        "type": "object",
        "required": ["id", "status"],
        "properties": {
            "id": {"type": "integer", "examples": [42]},
            "status": {"enum": ["open", "closed"]},
            "kind": {"const": "order"},
            "note": {"type": ["string", "null"], "default": "none"},
            "tags": {"type": "array", "items": {"type": "string", "examples": ["vip"]}},
        },
    }
    nodes = flatten(preview_tree(schema))
    assert [(n["path"], n["types"], n["required"], n["example"]) for n in nodes.values()] == [
        ("id", ["integer"], True, 42),
        ("status", ["string"], True, "open"),
        ("kind", ["string"], False, "order"),
        ("note", ["string", "null"], False, "none"),
        ("tags", ["array"], False, None),
        ("tags[*]", ["string"], False, "vip"),
    ]


def test_sample_values_win_over_schema_examples() -> None:
    schema = {"properties": {"id": {"type": "integer", "examples": [1]}}}
    assert preview_tree(schema, [{"id": 99}])[0]["example"] == 99


def test_local_references_all_of_and_any_of_are_followed() -> None:
    schema = {
        "$defs": {
            "user": {"type": "object", "required": ["login"], "properties": {"login": {"type": "string"}}}
        },
        "allOf": [
            {"required": ["sender"], "properties": {"sender": {"$ref": "#/$defs/user"}}},
            {"properties": {"repository": {"properties": {"owner": {"$ref": "#/$defs/user"}}}}},
        ],
        "anyOf": [
            {"required": ["issue"], "properties": {"issue": {"type": "object"}}},
            {"properties": {"pull_request": {}}},
        ],
    }
    nodes = flatten(preview_tree(schema))
    assert nodes["sender"]["required"] and nodes["sender.login"]["required"]
    assert nodes["repository.owner.login"]["types"] == ["string"]
    assert not nodes["issue"]["required"] and "pull_request" in nodes


def test_references_through_embedded_ids_and_anchors_are_followed() -> None:
    schema = {
        "$id": "https://hooks.example/root.json",
        "properties": {"customer": {"$ref": "customer.json"}, "total": {"$ref": "#money"}},
        "$defs": {
            "customer": {
                "$id": "customer.json",
                "properties": {"email": {"$ref": "#/$defs/email"}},
                "$defs": {"email": {"type": "string"}},
            },
            "money": {"$anchor": "money", "type": "string", "examples": ["9.99"]},
        },
    }
    nodes = flatten(preview_tree(schema))
    assert nodes["customer.email"]["types"] == ["string"]
    assert nodes["total"]["example"] == "9.99"


def test_a_recursive_schema_stops_where_a_reference_repeats() -> None:
    schema = {
        "$ref": "#/$defs/node",
        "$defs": {
            "node": {
                "properties": {
                    "name": {"type": "string"},
                    "children": {"type": "array", "items": {"$ref": "#/$defs/node"}},
                    "parent": {"$ref": "#/$defs/node"},
                }
            }
        },
    }
    nodes = flatten(preview_tree(schema))
    assert sorted(nodes) == ["children", "name", "parent"]


def test_unresolvable_references_and_odd_schemas_give_what_can_be_shown() -> None:
    assert preview_tree({"properties": {"a": {"$ref": "https://remote.example/x.json"}}})[0]["types"] == []
    assert preview_tree(True) == [] and preview_tree({"type": "string"}) == []
    assert preview_tree({"$schema": "https://unknown.example/schema", "properties": {"a": {"type": "null"}}})[
        0
    ]["types"] == ["null"]


def test_a_top_level_array_lists_the_fields_of_its_items() -> None:
    nodes = flatten(preview_tree(infer_schema([[{"id": 1, "tags": ["x"]}]]), [[{"id": 1, "tags": ["x"]}]]))
    assert sorted(nodes) == ["[*].id", "[*].tags", "[*].tags[*]"]
    assert nodes["[*].tags[*]"]["example"] == "x"


def test_a_huge_schema_is_cut_at_the_node_limit() -> None:
    wide = {
        "properties": {
            f"k{i}": {"properties": {f"j{j}": {"type": "integer"} for j in range(10)}} for i in range(500)
        }
    }
    assert len(flatten(preview_tree(wide))) <= MAX_NODES + 10


def test_deep_nesting_is_cut_at_the_depth_limit() -> None:
    schema: dict[str, Any] = {"type": "integer"}
    for _ in range(100):
        schema = {"properties": {"a": schema}}
    assert max(node["path"].count(".") for node in flatten(preview_tree(schema)).values()) < 40
