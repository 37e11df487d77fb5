"""Structured output on the real 135M model: a grammar built from a JSON schema constrains
llama.cpp's sampling, so the answer parses and validates, greedy or sampled. Also raw
completions and stop strings, which the API server uses."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import jsonschema
import pytest

from engine.errors import InvalidRequestError
from engine.llama_engine import LlamaEngine
from engine.structured import output_from_schema
from engine.types import ChatMessage, GenerationRequest, OutputFormat, SamplingParams

PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 30},
        "age": {"type": "integer", "minimum": 0, "maximum": 150},
        "colours": {"type": "array", "items": {"type": "string", "maxLength": 16}, "maxItems": 3},
        "pet": {"enum": ["cat", "dog", "none"]},
    },
    "required": ["name", "age", "colours", "pet"],
    "additionalProperties": False,
}
QUESTION = [ChatMessage("user", "Describe a person: name, age, favourite colours and pet.")]


@pytest.fixture(scope="module")
def smol(smollm2_path: Path):
    with LlamaEngine(smollm2_path, n_ctx=2048) as engine:
        yield engine


def answer(engine: LlamaEngine, request: GenerationRequest) -> tuple[str, object]:
    gen = engine.generate(request, threading.Event())
    return gen.text(), gen.stats


@pytest.mark.parametrize(
    "sampling",
    [
        SamplingParams(temperature=0.0, max_tokens=200),
        SamplingParams(temperature=1.0, top_k=0, top_p=1.0, min_p=0.0, seed=7, max_tokens=200),
        SamplingParams(temperature=1.0, top_k=0, top_p=1.0, min_p=0.0, seed=8, max_tokens=200),
    ],
    ids=["greedy", "sampled-7", "sampled-8"],
)
def test_a_schema_answer_parses_and_validates(smol: LlamaEngine, sampling: SamplingParams) -> None:
    text, stats = answer(
        smol, GenerationRequest(QUESTION, sampling, output=output_from_schema(PERSON))
    )
    value = json.loads(text)
    jsonschema.validate(value, PERSON)
    assert stats.stop_reason == "stop"  # the grammar was complete, then only the end fitted


WIDE_BOUNDS = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "maxLength": 20},
        "population": {"type": "integer", "minimum": 10_000, "maximum": 90_000_000},
        "lowest_point_m": {"type": "integer", "minimum": -900_000, "exclusiveMaximum": -1_000},
        "founded": {"type": "integer", "minimum": 1},
    },
    "required": ["city", "population", "lowest_point_m", "founded"],
    "additionalProperties": False,
}


@pytest.mark.parametrize("seed", [None, 7, 8, 9])
def test_wide_and_one_sided_integer_bounds_hold(smol: LlamaEngine, seed: int | None) -> None:
    """Ranges too wide to list (and one-sided ones) are enforced by the grammar too
    (engine/int_range.py): the converter alone let any whole number through."""
    sampling = (
        SamplingParams(temperature=0.0, max_tokens=120)
        if seed is None
        else SamplingParams(
            temperature=1.0, top_k=0, top_p=1.0, min_p=0.0, seed=seed, max_tokens=120
        )
    )
    question = [
        ChatMessage("user", "Describe a city as JSON: population, lowest point, year founded.")
    ]
    text, stats = answer(
        smol, GenerationRequest(question, sampling, output=output_from_schema(WIDE_BOUNDS))
    )
    jsonschema.validate(json.loads(text), WIDE_BOUNDS)
    assert stats.stop_reason == "stop"


def test_json_object_mode_gives_an_object(smol: LlamaEngine) -> None:
    request = GenerationRequest(
        [ChatMessage("user", "Give the capital of France as JSON.")],
        SamplingParams(temperature=0.0, max_tokens=120),
        output=OutputFormat("json"),
    )
    text, _ = answer(smol, request)
    assert isinstance(json.loads(text), dict)


def test_a_grammar_llama_cpp_cannot_parse_is_refused_before_any_token(smol: LlamaEngine) -> None:
    bad = GenerationRequest(QUESTION, output=OutputFormat("grammar", grammar="root ::= missing"))
    gen = smol.generate(bad, threading.Event())
    with pytest.raises(InvalidRequestError, match="not valid GBNF"):
        gen.text()
    assert gen.stats.generated_tokens == 0 and gen.stats.prompt_tokens_evaluated == 0
    text, _ = answer(smol, GenerationRequest(QUESTION, SamplingParams(temperature=0, max_tokens=4)))
    assert text  # the engine is still usable


def _literal(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def test_a_grammar_that_allows_the_models_own_choice_changes_nothing(smol: LlamaEngine) -> None:
    """Only the token the model picks is checked against the grammar (engine.sampling): when
    the grammar allows every pick, greedy text is what it is without a grammar."""
    greedy = SamplingParams(temperature=0.0, max_tokens=12)
    free, _ = answer(smol, GenerationRequest(QUESTION, greedy))
    grammar = f'root ::= {_literal(free)} | "zebra"'
    longer = SamplingParams(temperature=0.0, max_tokens=24)
    output = OutputFormat("grammar", grammar=grammar)
    bound, stats = answer(smol, GenerationRequest(QUESTION, longer, output=output))
    assert bound == free
    assert stats.stop_reason == "stop"  # after the literal only the end of text fits


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_a_grammar_against_the_models_wishes_is_obeyed(
    smol: LlamaEngine, temperature: float
) -> None:
    """Words the model would never pick: each pick is refused, and the whole vocabulary is
    checked instead."""
    grammar = 'root ::= w (" " w){2} "."\nw ::= "zebra" | "quartz" | "ocelot"'
    sampling = SamplingParams(temperature=temperature, seed=3, max_tokens=40)
    text, stats = answer(
        smol, GenerationRequest(QUESTION, sampling, output=OutputFormat("grammar", grammar=grammar))
    )
    assert re.fullmatch(r"(zebra|quartz|ocelot)( (zebra|quartz|ocelot)){2}\.", text), text
    assert stats.stop_reason == "stop"


def test_a_raw_prompt_is_continued_without_the_chat_template(smol: LlamaEngine) -> None:
    request = GenerationRequest(
        [], SamplingParams(temperature=0.0, max_tokens=8), prompt="1, 2, 3, 4,"
    )
    text, stats = answer(smol, request)
    assert stats.prompt_tokens == len(smol.tokenize("1, 2, 3, 4,"))
    assert text.strip().startswith("5")


def test_a_raw_prompt_longer_than_the_context_is_refused(smol: LlamaEngine) -> None:
    request = GenerationRequest([], SamplingParams(max_tokens=8), prompt="word " * 3000)
    with pytest.raises(InvalidRequestError, match="too long"):
        answer(smol, request)


def test_a_stop_string_ends_the_answer_before_it(smol: LlamaEngine) -> None:
    request = GenerationRequest(
        [], SamplingParams(temperature=0.0, max_tokens=30), prompt="1, 2, 3, 4,", stop=["7"]
    )
    text, stats = answer(smol, request)
    assert "7" not in text and "6" in text
    assert stats.stop_reason == "stop"
