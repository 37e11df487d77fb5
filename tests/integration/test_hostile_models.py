"""Model files that used to take Hearth down (llama.cpp's GGML_ASSERT aborts the process),
made at test time from the bundled models: each now ends in a typed ModelFileError that says
why, in this process, and model lists call them damaged instead of "fits". Hostile chat
templates inside a real model end with a reason too, and Stop ends them."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gguf_craft import ARR, F32, STR, U32, Model, array_items, craft, read_model
from stop_events import StopAfterPolls

from engine.errors import HearthError, ModelFileError
from engine.gguf_file import read_header
from engine.llama_engine import LlamaEngine
from engine.model_inventory import installed_groups
from engine.types import ChatMessage, GenerationRequest, SamplingParams


@pytest.fixture(scope="module")
def smol(smollm2_path: Path) -> Model:
    return read_model(smollm2_path)


@pytest.fixture(scope="module")
def minilm(minilm_gguf: Path) -> Model:
    return read_model(minilm_gguf)


@pytest.fixture(autouse=True)
def own_verdicts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Verdicts of these files stay with this test (the shared file is for real models)."""
    monkeypatch.setenv("HEARTH_MODEL_VERDICTS", str(tmp_path / "verdicts.json"))


# name -> (what is changed in SmolLM2, words the reason must contain). Every one of these
# aborted llama.cpp (SIGABRT) before, in `hearth chat --model FILE` and in the window.
SMOL_CASES: dict[str, tuple[dict[str, Any], str]] = {
    "100,000 layers": (dict(set_kv={"llama.block_count": (100000, U32)}), "100000 layers"),
    "no layers": (dict(set_kv={"llama.block_count": (0, U32)}), "0 layers"),
    "more experts used than there are": (
        dict(set_kv={"llama.expert_count": (2, U32), "llama.expert_used_count": (4, U32)}),
        "uses 4 experts per token and has only 2",
    ),
    "experts and none used": (dict(set_kv={"llama.expert_count": (8, U32)}), "uses none"),
    "experts used and none there": (
        dict(set_kv={"llama.expert_used_count": (2, U32)}),
        "has only 0",
    ),
    "2,000 experts": (
        dict(set_kv={"llama.expert_count": (2000, U32), "llama.expert_used_count": (2, U32)}),
        "2000 experts",
    ),
    "expert groups without experts": (
        dict(set_kv={"llama.expert_group_count": (2, U32)}),
        "expert groups",
    ),
    "next-token layers beyond the layers": (
        dict(set_kv={"llama.nextn_predict_layers": (100000, U32)}),
        "predict further tokens",
    ),
    "unknown RoPE scaling": (dict(set_kv={"llama.rope.scaling.type": ("junk", STR)}), "RoPE"),
    "negative norm epsilon": (
        dict(set_kv={"llama.attention.layer_norm_rms_epsilon": (-1.0, F32)}),
        "layer_norm_rms_epsilon is -1.0",
    ),
    "NaN norm epsilon": (
        dict(set_kv={"llama.attention.layer_norm_rms_epsilon": (float("nan"), F32)}),
        "layer_norm_rms_epsilon is nan",
    ),
    "no tokenizer": (dict(set_kv={"tokenizer.ggml.model": ("none", STR)}), "no tokenizer"),
    # Not aborts, but named for what they are instead of llama.cpp's tensor messages:
    "a layer fewer than it says": (dict(set_kv={"llama.block_count": (29, U32)}), "layer 29"),
    "a head count per layer, for too few layers": (
        dict(set_kv={"llama.attention.head_count": ((U32, [9] * 29), ARR)}),
        "for 29 layers",
    ),
    "heads that do not match the tensors": (
        dict(set_kv={"llama.attention.head_count_kv": (2, U32)}),
        "9 attention heads and 2 KV heads",
    ),
    "an embedding table shorter than the vocabulary": (
        dict(shapes={"token_embd.weight": [576, 49151]}),
        "49152 tokens and its embedding table 49151 rows",
    ),
    "a block count that is text": (
        dict(set_kv={"llama.block_count": ("30", STR)}),
        "not a whole number",
    ),
}


@pytest.mark.parametrize("case", sorted(SMOL_CASES))
def test_a_hostile_chat_model_is_refused_with_its_reason(
    smol: Model, tmp_path: Path, case: str
) -> None:
    changes, says = SMOL_CASES[case]
    path = craft(smol, tmp_path / "crafted.gguf", **changes)
    with pytest.raises(ModelFileError) as err:
        LlamaEngine(path, n_ctx=512)
    message = err.value.user_message
    assert message.startswith(f"{path.name} is damaged: ") and says in message, message
    assert "Download or convert it again" in message


# Found only by loading: llama.cpp aborts while reading the vocabulary or the first text.
# The first load happens in a child process (engine.load_probe), which dies instead.
PROBE_CASES = {
    "duplicate tokens": "tokenizer.ggml.tokens",
    "a SentencePiece tokenizer over a vocabulary without byte tokens": "tokenizer.ggml.model",
}


@pytest.mark.parametrize("case", sorted(PROBE_CASES))
def test_what_only_a_load_finds_is_found_in_a_child_process(
    smol: Model, tmp_path: Path, case: str
) -> None:
    if PROBE_CASES[case] == "tokenizer.ggml.tokens":
        etype, tokens = array_items(smol.entries["tokenizer.ggml.tokens"])
        tokens[100] = tokens[101]
        changes = dict(set_kv={"tokenizer.ggml.tokens": ((etype, tokens), ARR)})
    else:
        changes = dict(set_kv={"tokenizer.ggml.model": ("llama", STR)})
    path = craft(smol, tmp_path / "probed.gguf", **changes)
    read_header(path)  # nothing in the header alone says so
    with pytest.raises(ModelFileError) as err:
        LlamaEngine(path, n_ctx=512)
    assert "llama.cpp stops the program when it loads this file" in err.value.user_message
    # The verdict is kept: the next attempt and the model list say so without loading it.
    with pytest.raises(ModelFileError):
        LlamaEngine(path, n_ctx=512)
    errors = {Path(v.info.path): v.error for g in installed_groups(tmp_path) for v in g.variants}
    assert "llama.cpp stops the program" in errors[path]


def test_model_lists_show_the_damage(smol: Model, minilm: Model, tmp_path: Path) -> None:
    craft(smol, tmp_path / "Broken-Layers.gguf", set_kv={"llama.block_count": (100000, U32)})
    craft(minilm, tmp_path / "Broken-Pooling.gguf", set_kv={"bert.pooling_type": (100000, U32)})
    variants = {
        Path(v.info.path).name: v.error
        for g in installed_groups(tmp_path, include_embedding=True)
        for v in g.variants
    }
    assert "100000 layers" in variants["Broken-Layers.gguf"]
    assert "pooling type 100000" in variants["Broken-Pooling.gguf"]


MINILM_CASES = {
    "100,000 layers": ({"bert.block_count": (100000, U32)}, "100000 layers"),
    "pooling type 100,000": ({"bert.pooling_type": (100000, U32)}, "pooling type 100000"),
    "key length 0": ({"bert.attention.key_length": (0, U32)}, "keys of 0"),
    "negative epsilon": ({"bert.attention.layer_norm_epsilon": (-1.0, F32)}, "-1.0"),
}


@pytest.mark.parametrize("case", sorted(MINILM_CASES))
def test_a_hostile_embedding_model_is_refused(minilm: Model, tmp_path: Path, case: str) -> None:
    from rag.embedder import Embedder

    changes, says = MINILM_CASES[case]
    path = craft(minilm, tmp_path / "embed.gguf", set_kv=changes)
    with pytest.raises(ModelFileError) as err:
        Embedder(path, n_threads=1)
    assert says in err.value.user_message


# -- Chat templates inside a real model ------------------------------------------------------


@pytest.fixture(scope="module")
def template_model(smol: Model, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """SmolLM2 with its chat template replaced, one file per template, loaded once."""
    folder = tmp_path_factory.mktemp("templates")
    engines: list[LlamaEngine] = []

    def load(template: str) -> LlamaEngine:
        out = folder / f"template-{len(engines)}.gguf"
        craft(smol, out, set_kv={"tokenizer.chat_template": (template, STR)})
        engine = LlamaEngine(out, n_ctx=512, n_threads=1)
        engines.append(engine)
        return engine

    yield load
    for engine in engines:
        engine.close()


def _ask(engine: LlamaEngine, cancel: threading.Event | None = None) -> tuple[str, str]:
    request = GenerationRequest([ChatMessage("user", "Hello!")], SamplingParams(max_tokens=4))
    out = engine.generate(request, cancel or threading.Event())
    return "".join(out), out.stats.stop_reason


CHATML = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"


def test_a_template_that_never_ends_is_stopped_by_stop(template_model: Any) -> None:
    engine = template_model(
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}" + CHATML
    )
    text, reason = _ask(engine, StopAfterPolls(100))  # the default 5 s limit is far away
    assert (text, reason) == ("", "cancelled")


@pytest.mark.parametrize(
    ("template", "says"),
    [
        ("{{ 'A' * 300000000 }}" + CHATML, "makes far more text than a prompt needs"),
        ("{% for m in messages %}  {% endfor %}", "produced an empty prompt"),
        ("{% for m in messages %}{{ m.role }}{% endfor %}", "left your message out"),
    ],
)
def test_hostile_or_broken_templates_say_what_happened(
    template_model: Any, template: str, says: str
) -> None:
    engine = template_model(template)
    with pytest.raises(HearthError) as err:
        _ask(engine)
    assert says in err.value.user_message
    assert "llama.cpp failed while reading the prompt" not in err.value.user_message


def test_an_embedding_model_is_probed_too(minilm: Model, tmp_path: Path) -> None:
    from rag.embedder import Embedder

    etype, tokens = array_items(minilm.entries["tokenizer.ggml.tokens"])
    tokens[1000] = tokens[1001]  # duplicate tokens: llama.cpp aborts reading the vocabulary
    path = craft(
        minilm, tmp_path / "embed.gguf", set_kv={"tokenizer.ggml.tokens": ((etype, tokens), ARR)}
    )
    with pytest.raises(ModelFileError) as err:
        Embedder(path, n_threads=1)
    assert "llama.cpp stops the program when it loads this file" in err.value.user_message


def test_a_probe_that_fails_for_a_sound_model_too_is_not_believed(
    smol: Model, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a machine where the probe's child dies whatever it loads (seen on a CUDA machine),
    its verdicts say nothing about the file: the model loads as before instead of every
    model being refused. Where the bundled model probes fine, a crash is believed."""
    from engine import load_probe
    from engine.load_probe import Verdict

    suspect = craft(smol, tmp_path / "suspect.gguf")
    crashes: set[str] = set()

    def probe(path: Path, embedding: bool, timeout_s: float) -> Verdict:  # the child's verdict
        if path.name in crashes or "*" in crashes:
            return Verdict(False, "it ended with SIGSEGV", name=path.name, checked=1.0)
        return Verdict(True, name=path.name, checked=1.0)

    monkeypatch.setattr(load_probe, "probe", probe)
    monkeypatch.setattr(load_probe, "_control", [])
    crashes.add("*")  # every model, the bundled one too
    load_probe.ensure_loadable(read_header(suspect))  # not refused
    assert load_probe.known_damage(read_header(suspect)) is None  # and nothing recorded
    monkeypatch.setattr(load_probe, "_control", [])
    crashes.clear()
    crashes.add(suspect.name)  # only this file
    with pytest.raises(ModelFileError, match="SIGSEGV"):
        load_probe.ensure_loadable(read_header(suspect))


def test_a_verdict_holds_only_for_the_llama_cpp_build_that_gave_it(
    smol: Model, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A build that crashed on every model (AMX on Sapphire Rapids) recorded the bundled
    SmolLM2 as damaged; the rebuilt llama.cpp loads it, and the old verdict must not keep
    refusing it."""
    from engine import load_probe
    from engine.load_probe import Verdict

    suspect = craft(smol, tmp_path / "suspect.gguf")
    crashing = [True]

    def probe(path: Path, embedding: bool, timeout_s: float) -> Verdict:  # the child's verdict
        if crashing[0]:
            return Verdict(False, "it ended with SIGSEGV", name=path.name, checked=1.0)
        return Verdict(True, name=path.name, checked=1.0)

    monkeypatch.setattr(load_probe, "probe", probe)
    monkeypatch.setattr(load_probe, "_control", [True])
    with pytest.raises(ModelFileError, match="SIGSEGV"):
        load_probe.ensure_loadable(read_header(suspect))
    assert load_probe.known_damage(read_header(suspect)) is not None  # recorded, this build
    crashing[0] = False
    monkeypatch.setattr(load_probe, "_build", ["another build"])  # llama.cpp rebuilt
    assert load_probe.known_damage(read_header(suspect)) is None
    load_probe.ensure_loadable(read_header(suspect))  # probed again: it loads
    assert load_probe.llama_build_id() == "another build"
    monkeypatch.setattr(load_probe, "_build", [])
    assert len(load_probe.llama_build_id()) == 16  # the installed libraries' own
