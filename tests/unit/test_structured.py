"""Checks on output formats before any generation (engine/structured.py)."""

from __future__ import annotations

import random
import re

import pytest

from engine.errors import InvalidRequestError
from engine.int_range import LARGEST, integer_range_gbnf
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


def test_a_string_cannot_hold_a_raw_control_character() -> None:
    """JSON forbids U+0000-U+001F inside a string; the converter's string characters (and a
    pattern's ".") allowed them, and a sampled answer failed to parse for it."""
    from llama_cpp.llama_grammar import LlamaGrammar

    schema = {
        "type": "object",
        "properties": {"a": {"type": "string"}, "b": {"type": "string", "pattern": "^x.y$"}},
    }
    grammar = grammar_for(output_from_schema(schema))
    assert r'char ::= [^"\\\x7F\x00-\x1F] |' in grammar
    assert r'dot ::= [^"\\\x7F\x00-\x1F]' in grammar
    assert r'[^"\\] |' not in grammar and r"[^\x0A\x0D]" not in grammar
    LlamaGrammar.from_string(grammar, verbose=False)


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
    """llama-cpp-python's converter ignores integer bounds; a bounded integer becomes a rule of
    its range (engine/int_range.py), so a sampled answer cannot say "age": 1820. The grammar
    is llama.cpp's to parse (LlamaGrammar, the parser the engine uses)."""
    from llama_cpp.llama_grammar import LlamaGrammar

    age = {"type": "integer", "minimum": 0, "maximum": 150, "description": "years"}
    wide = {"type": "integer", "exclusiveMinimum": -(10**6), "maximum": -1000}
    schema = {
        "type": "object",
        "properties": {"age": age, "depth": wide, "n": {"type": "integer", "minimum": 1}},
        "default": {"type": "integer", "minimum": 5},  # data, not a schema: left alone
    }
    grammar = grammar_for(output_from_schema(schema))
    assert integer_range_gbnf(0, 150) in grammar
    assert integer_range_gbnf(-(10**6) + 1, -1000) in grammar
    assert integer_range_gbnf(1, None) in grammar
    assert "hearth-integer-range" not in grammar  # every stand-in was replaced
    LlamaGrammar.from_string(grammar, verbose=False)
    # an enum already lists the values; no bound at all keeps the converter's own rule
    listed = {"type": "integer", "minimum": 0, "maximum": 9, "enum": [1, 2]}
    assert integer_range_gbnf(0, 9) not in grammar_for(output_from_schema(listed))
    with pytest.raises(InvalidRequestError, match="No whole number"):
        output_from_schema({"type": "integer", "minimum": 5, "maximum": 4})


def _as_regex(rule: str) -> re.Pattern[str]:
    """The GBNF of integer_range_gbnf as a Python regex (it uses literals, classes, {n})."""
    return re.compile("^" + re.sub(r'"(-|\d)"', r"\1", rule).replace(" ", "") + "$")


@pytest.mark.parametrize("seed", range(4))
def test_an_integer_range_rule_matches_exactly_its_numbers(seed: int) -> None:
    """Random ranges, small and up to 16 digits, one-sided and negative: the rule matches the
    numbers inside, written without leading zeros, and nothing else."""
    rng = random.Random(seed)
    for _ in range(300):
        width = 10 ** rng.randint(0, 17)
        low: int | None = rng.randint(-width, width)
        high: int | None = low + rng.randint(0, 10 ** rng.randint(0, 17))  # type: ignore[operator]
        low = None if rng.random() < 0.1 else low
        high = None if rng.random() < 0.1 else high
        lo = max(-LARGEST, low if low is not None else -LARGEST)
        hi = min(LARGEST, high if high is not None else LARGEST)
        if lo > hi:  # wholly beyond 16 digits
            with pytest.raises(ValueError):
                integer_range_gbnf(low, high)
            continue
        pattern = _as_regex(integer_range_gbnf(low, high))
        probes = {lo, hi, lo - 1, hi + 1, 0, -1, 1, (lo + hi) // 2, LARGEST + 1, -LARGEST - 1}
        probes |= {rng.randint(lo - 50, hi + 50) for _ in range(20)}
        for x in probes:
            assert bool(pattern.match(str(x))) == (lo <= x <= hi), (low, high, x)
        for text in ("00", "01", "-0", "-01", "+1", "1.0", ""):
            assert not pattern.match(text), (low, high, text)
