"""Structured output: a JSON schema (or a GBNF grammar) that constrains sampling.

llama.cpp's grammar sampler masks every token that would leave the grammar, so even a 135M
model can only produce text the grammar accepts: JSON that parses and, for a schema, has its
required keys, types and bounds. The schema is turned into GBNF by llama-cpp-python's own
converter (`llama_cpp.llama_grammar.json_schema_to_gbnf`, a port of llama.cpp's
json-schema-to-grammar), never fetched from anywhere (`$ref` must point inside the schema).

Everything here is checked before any generation starts: a schema the converter cannot
handle, a remote `$ref`, or bounds so large that the grammar would explode (the converter
spells out `maxLength: n` as n nested optional rules) are refused with InvalidRequestError.
Whether llama.cpp accepts the grammar is checked when the engine builds its sampler, also
before the first token (engine.llama_engine).
"""

from __future__ import annotations

import json
import math
import uuid
from typing import Any

from engine.errors import InvalidRequestError
from engine.int_range import MAX_DIGITS, integer_range_gbnf
from engine.types import OutputFormat

# Stand-in constants for bounded integers carry this, so that no string of a schema matches one
_NONCE = uuid.uuid4().hex[:12]

# The converter writes `maxLength: n` (and the other counts) as n nested optional rules, and
# llama.cpp parses nested rules recursively: bounded here so a request cannot make a grammar
# of megabytes or a parser recursion that overflows the engine thread's stack.
MAX_REPEAT = 1000
MAX_GRAMMAR_CHARS = 256 * 1024
MAX_SCHEMA_DEPTH = 64
_COUNT_KEYS = ("minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties")


def output_from_schema(schema: Any) -> OutputFormat:
    """An OutputFormat for a JSON schema, checked now (InvalidRequestError if unusable)."""
    output = OutputFormat("json_schema", schema=schema)
    grammar_for(output)
    return output


def grammar_for(output: OutputFormat) -> str:
    """The GBNF grammar that constrains sampling to `output`."""
    if output.kind == "grammar":
        text = output.grammar
        if not text.strip():
            raise InvalidRequestError("The grammar is empty.")
    elif output.kind == "json":
        from llama_cpp.llama_grammar import JSON_GBNF  # root ::= object

        text = JSON_GBNF
    else:
        text = _schema_grammar(output.schema)
    if len(text) > MAX_GRAMMAR_CHARS:
        raise InvalidRequestError(
            f"The schema makes a grammar too large to use ({len(text):,} characters; at most "
            f"{MAX_GRAMMAR_CHARS:,}). Use smaller length or item bounds."
        )
    return text


def _schema_grammar(schema: Any) -> str:
    if not isinstance(schema, dict):
        raise InvalidRequestError("The JSON schema must be a JSON object.")
    _check_node(schema, 0)
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    ranges: dict[str, str] = {}
    try:
        text = str(json_schema_to_gbnf(json.dumps(_bounded_integers(schema, ranges))))
    except RecursionError as exc:
        raise InvalidRequestError("The JSON schema is nested too deeply.") from exc
    except (AssertionError, AttributeError, TypeError, KeyError, ValueError, IndexError) as exc:
        # The converter reports an unknown type, a bad pattern or a dangling $ref this way.
        raise InvalidRequestError(f"The JSON schema cannot be used: {exc}", repr(exc)) from exc
    for marker, rule in ranges.items():  # each stand-in string becomes its range's rule
        text = text.replace(json.dumps(json.dumps(marker)), rule)
    return _json_string_chars(text)


# The converter's characters of a JSON string (and of a pattern's "."), and what JSON allows:
# raw control characters (U+0000-U+001F) are invalid inside a string, and a sampled answer
# had one ("Invalid control character" from json.loads); a pattern's "." may not end the
# string with a quote either. llama.cpp's own JSON grammar already excludes them.
_STRING_CHAR_RULES = {
    r'char ::= [^"\\] | ': r'char ::= [^"\\\x7F\x00-\x1F] | ',
    r"dot ::= [^\x0A\x0D]": r'dot ::= [^"\\\x7F\x00-\x1F]',
}


def _json_string_chars(grammar: str) -> str:
    for old, new in _STRING_CHAR_RULES.items():
        grammar = grammar.replace(old, new)
    return grammar


_INT_KEYS = ("type", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")


def _bounded_integers(node: Any, ranges: dict[str, str], names: bool = False) -> Any:
    """The schema with each bounded integer ({"type": "integer", "minimum": 0, "maximum":
    150}) replaced by a stand-in string constant, whose GBNF rule (engine.int_range) is put
    in `ranges`: llama-cpp-python's converter ignores integer bounds (it let a sampled answer
    say "age": 1820), and `_schema_grammar` swaps the constant's literal for the rule."""
    if isinstance(node, list):
        return [_bounded_integers(item, ranges) for item in node]
    if not isinstance(node, dict):
        return node
    if names:
        return {k: _bounded_integers(v, ranges) for k, v in node.items()}
    out = {
        k: v
        if k in ("enum", "const", "default", "examples")
        else _bounded_integers(v, ranges, k in _NAME_MAPS)
        for k, v in node.items()
    }
    low, high = _int_bounds(out)
    if out.get("type") != "integer" or (low is None and high is None):
        return out
    if "enum" in out or "const" in out:
        return out  # the values are listed already
    try:
        rule = integer_range_gbnf(low, high)
    except ValueError as exc:
        raise InvalidRequestError(
            f"No whole number of at most {MAX_DIGITS} digits lies within the bounds of an "
            f"integer in the JSON schema ({low} to {high})."
        ) from exc
    marker = f"hearth-integer-range-{_NONCE}-{len(ranges)}"
    ranges[marker] = rule
    return {**{k: v for k, v in out.items() if k not in _INT_KEYS}, "const": marker}


def _int_bounds(node: dict[str, Any]) -> tuple[int | None, int | None]:
    def num(key: str) -> float | None:
        v = node.get(key)
        return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None

    lows = [x for x in (num("minimum"), _plus(num("exclusiveMinimum"), 1)) if x is not None]
    highs = [x for x in (num("maximum"), _plus(num("exclusiveMaximum"), -1)) if x is not None]
    low = math.ceil(max(lows)) if lows else None
    high = math.floor(min(highs)) if highs else None
    return low, high


def _plus(x: float | None, d: int) -> float | None:
    """The next whole number inside an exclusive bound."""
    if x is None:
        return None
    return math.floor(x) + 1 if d > 0 else math.ceil(x) - 1


_NAME_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")


def _check_node(node: Any, depth: int, names: bool = False) -> None:
    """Refuse what the converter would fetch, or expand into an enormous grammar. `names`:
    `node` maps property (or definition) names to schemas, so its keys are not keywords."""
    if depth > MAX_SCHEMA_DEPTH:
        raise InvalidRequestError(f"The JSON schema is nested deeper than {MAX_SCHEMA_DEPTH}.")
    if isinstance(node, list):
        for item in node:
            _check_node(item, depth + 1)
        return
    if not isinstance(node, dict):
        return
    if names:
        for value in node.values():
            _check_node(value, depth + 1)
        return
    ref = node.get("$ref")
    if ref is not None and (not isinstance(ref, str) or not ref.startswith("#")):
        raise InvalidRequestError(
            f"The JSON schema refers to {ref!r}: only references inside the schema (#/...) "
            "are allowed."
        )
    for key in _COUNT_KEYS:
        value = node.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidRequestError(f"'{key}' in the JSON schema must be a whole number.")
        if value > MAX_REPEAT:
            raise InvalidRequestError(
                f"'{key}': {value} in the JSON schema is too large for a grammar (at most "
                f"{MAX_REPEAT})."
            )
    for key, value in node.items():
        if key not in ("enum", "const", "default", "examples"):  # data, not schemas
            _check_node(value, depth + 1, names=key in _NAME_MAPS)
