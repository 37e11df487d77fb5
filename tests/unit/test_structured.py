"""Checks on output formats before any generation (engine/structured.py)."""

from __future__ import annotations

import pytest

from engine.errors import InvalidRequestError
from engine.structured import grammar_for, output_from_schema
from engine.types import OutputFormat


def test_a_schema_becomes_a_grammar_with_its_keys() -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string", "maxLength": 20}, "age": {"type": "integer"}},
        "required": ["name", "age"],
    }
    grammar = grammar_for(output_from_schema(schema))
    assert "root ::=" in grammar and '\\"name\\"' in grammar and '\\"age\\"' in grammar
    assert "root   ::= object" in grammar_for(OutputFormat("json"))


@pytest.mark.parametrize(
    ("schema", "words"),
    [
        ([1, 2], "must be a JSON object"),
        ({"type": "nonsense"}, "cannot be used"),
        ({"type": "object", "properties": 5}, "cannot be used"),
        ({"$ref": "https://example.com/schema.json"}, "only references inside the schema"),
        ({"type": "string", "maxLength": 10**6}, "too large for a grammar"),
        ({"type": "array", "maxItems": -1}, "whole number"),
        ({"type": "string", "pattern": "[a-"}, "cannot be used"),
    ],
)
def test_unusable_schemas_are_refused_with_the_reason(schema: object, words: str) -> None:
    with pytest.raises(InvalidRequestError, match=words):
        output_from_schema(schema)


def test_a_property_named_like_a_keyword_is_a_name_not_a_bound() -> None:
    schema = {"type": "object", "properties": {"maxLength": {"type": "string"}}}
    assert '\\"maxLength\\"' in grammar_for(output_from_schema(schema))


def test_an_empty_grammar_is_refused() -> None:
    with pytest.raises(InvalidRequestError, match="empty"):
        grammar_for(OutputFormat("grammar", grammar="  "))


def test_integer_bounds_are_part_of_the_grammar() -> None:
    """llama-cpp-python's converter ignores integer bounds; a bounded integer is written out
    as its values, so a sampled answer cannot say "age": 1820."""
    from engine.structured import _bounded_integers

    age = {"type": "integer", "minimum": 0, "maximum": 150, "description": "years"}
    schema = {"type": "object", "properties": {"age": age}, "default": {"type": "integer"}}
    out = _bounded_integers(schema)
    assert out["properties"]["age"] == {"description": "years", "enum": list(range(151))}
    assert out["default"] == {"type": "integer"}  # data, not a schema: left alone
    assert _bounded_integers({"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 3}) == {
        "enum": [1, 2]
    }
    wide = {"type": "integer", "minimum": 0, "maximum": 10**6}
    assert _bounded_integers(wide) == wide
    grammar = grammar_for(output_from_schema({"type": "object", "properties": {"age": age}}))
    assert '"150"' in grammar and '"151"' not in grammar
