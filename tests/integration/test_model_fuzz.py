"""Fuzzing the header fields of the bundled models: whatever a field says, loading the file in
this process ends in a load that works or a typed error, never in a dead test process.

Each case changes one field of SmolLM2, Gemma 3 or all-MiniLM-L6-v2 (to 0, to the largest
value its type holds, a negative or NaN float, a string where a number belongs, a wrong
array) or adds a field llama.cpp reads, and loads the result the way Hearth does: the chat
models with LlamaEngine (header checks, then the first load in a child process), the
embedding model with the same checks and rag's Embedder. Loads that succeed answer a
prompt of a few tokens. The test process running the loads is the proof: an abort in
llama.cpp would end it. These cases found the rules in engine/gguf_check.py.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gguf import GGUFValueType as T
from gguf_craft import ARR, F32, STR, U32, Model, craft, read_model

from engine.errors import HearthError
from engine.llama_engine import LlamaEngine
from engine.types import GenerationRequest, SamplingParams

Case = tuple[str, str, dict[str, Any]]  # model, id, craft() changes
# Fields whose value only names or describes the model.
COSMETIC = ("general.name", "general.basename", "general.finetune", "general.size_label")
COSMETIC += ("general.organization", "general.license", "general.type", "general.languages")


def _field_cases(model_key: str, model: Model) -> Iterator[Case]:
    for key, entry in model.entries.items():
        if key in COSMETIC or key.startswith("tokenizer.ggml.") and entry.vtype == T.ARRAY:
            continue
        if entry.vtype in (T.UINT32, T.INT32, T.UINT64):
            top = {T.UINT32: 2**32 - 1, T.INT32: 2**31 - 1, T.UINT64: 2**64 - 1}[T(entry.vtype)]
            for value in (0, top):
                yield model_key, f"{key}={value}", dict(set_kv={key: (value, entry.vtype)})
            yield model_key, f"{key}=text", dict(set_kv={key: (str(entry.value), STR)})
            yield model_key, f"{key}=array", dict(set_kv={key: ((U32, [entry.value] * 3), ARR)})
        elif entry.vtype == T.FLOAT32:
            for value in (-1.0, math.nan):
                yield model_key, f"{key}={value}", dict(set_kv={key: (value, F32)})
        elif entry.vtype == T.STRING and key != "tokenizer.chat_template":
            yield model_key, f"{key}=junk", dict(set_kv={key: ("junk", STR)})
        if key != "general.architecture":
            yield model_key, f"without {key}", dict(drop_kv=[key])


def _added_cases(model_key: str, arch: str) -> Iterator[Case]:
    added = {
        "expert_count": [2, 5000],
        "expert_used_count": [1, 9],
        "expert_group_count": [2],
        "nextn_predict_layers": [1, 100000],
        "attention.key_length": [0, 7],
        "attention.value_length": [0],
        "rope.dimension_count": [0, 3],
        "attention.sliding_window": [0],
        "pooling_type": [100000],
    }
    for suffix, values in added.items():
        for value in values:
            key = f"{arch}.{suffix}"
            yield model_key, f"+{key}={value}", dict(set_kv={key: (value, U32)})
    for scaling in ("yarn", "junk"):
        key = f"{arch}.rope.scaling.type"
        yield model_key, f"+{key}={scaling}", dict(set_kv={key: (scaling, STR)})
    for tokenizer in ("none", "bert", "t5", "rwkv"):
        key = "tokenizer.ggml.model"
        yield model_key, f"{key}={tokenizer}", dict(set_kv={key: (tokenizer, STR)})


def _cases() -> list[Case]:
    """Built from the headers of the bundled models when the test session collects."""
    from conftest import SHARED_MODELS

    from engine.catalog import GEMMA_FILE, MINILM_GGUF, smollm2_path

    sources = {"smollm2": smollm2_path(), "minilm": SHARED_MODELS / MINILM_GGUF}
    cases: list[Case] = []
    for key, path in sources.items():
        if path is None or not path.exists():
            continue  # not prepared yet: the fixtures below prepare it, the next run covers it
        model = read_model(path)
        cases += [*_field_cases(key, model), *_added_cases(key, model.arch)]
    # Gemma is large (253 MB a copy): the fields of its attention, at both ends of their range.
    gemma = SHARED_MODELS / GEMMA_FILE
    if gemma.exists():
        model = read_model(gemma)
        wanted = ("block_count", "key_length", "value_length", "sliding_window", "head_count_kv")
        cases += [
            c
            for c in _field_cases("gemma", model)
            if c[1].split("=")[0].endswith(wanted) and c[1].endswith(("=0", f"={2**32 - 1}"))
        ]
    return cases


CASES = _cases()


@pytest.fixture(scope="module")
def sources(smollm2_path: Path, gemma_path: Path, minilm_gguf: Path) -> dict[str, Model]:
    return {
        "smollm2": read_model(smollm2_path),
        "gemma": read_model(gemma_path),
        "minilm": read_model(minilm_gguf),
    }


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz-verdicts") / "verdicts.json"


def _load_and_use(path: Path, embedding: bool) -> str:
    """Load as Hearth does and use the model a little; "loaded" or the error's class."""
    try:
        if embedding:
            from rag.embedder import Embedder

            embedder = Embedder(path, n_threads=1)  # header checks, then a probe in a child
            try:
                embedder.embed(["a short text", "another, \u00e9t\u00e9 \u4f60\u597d \U0001f600"])
            finally:
                embedder.close()
        else:
            engine = LlamaEngine(path, n_ctx=512, n_threads=1)
            try:
                prompt = "Hello \u00e9t\u00e9 \u4f60\u597d \U0001f600"
                request = GenerationRequest([], SamplingParams(max_tokens=3), prompt=prompt)
                "".join(engine.generate(request, threading.Event()))
            finally:
                engine.close()
    except HearthError as exc:
        return type(exc).__name__
    return "loaded"


@pytest.mark.parametrize(("model", "case", "changes"), CASES, ids=[f"{m}:{c}" for m, c, _ in CASES])
def test_a_changed_header_field_never_takes_the_process_down(
    sources: dict[str, Model],
    verdicts: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    model: str,
    case: str,
    changes: dict[str, Any],
) -> None:
    monkeypatch.setenv("HEARTH_MODEL_VERDICTS", str(verdicts))
    path = craft(sources[model], tmp_path / f"{model}.gguf", **changes)
    # Reaching the next line is the test; an error other than Hearth's typed ones fails it.
    outcome = _load_and_use(path, embedding=model == "minilm")
    assert outcome == "loaded" or outcome.endswith("Error")
