"""Quantization with llama.cpp's own quantizer in a child process, on real models."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from hubserver import BASE, smollm2_f16

from engine.errors import ConversionError, InvalidRequestError, ModelFileError
from engine.gguf_file import read_header
from engine.quantize import QuantizeProgress, base_name, default_output, quantize


@pytest.fixture(scope="module")
def f16(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the F16 SmolLM2, so outputs land in a folder of the test's own."""
    folder = tmp_path_factory.mktemp("quantize")
    dst = folder / f"{BASE}.F16.gguf"
    shutil.copyfile(smollm2_f16(), dst)
    return dst


def _hidden(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.startswith(".")]


def test_q8_0_of_f16_loads_answers_and_has_the_expected_size(f16: Path) -> None:
    seen: list[QuantizeProgress] = []
    out = quantize(f16, "Q8_0", progress=seen.append)
    assert out == f16.parent / f"{BASE}.Q8_0.gguf"  # grouped with its F16 sibling
    assert read_header(out).file_type_name == "Q8_0"
    ratio = out.stat().st_size / f16.stat().st_size
    assert 0.50 < ratio < 0.56, ratio  # 8.5 bits per weight instead of 16
    stages = [p.stage for p in seen]
    assert stages[0] == "starting" and stages[-1] == "done"
    quantizing = [p for p in seen if p.stage == "quantizing"]
    assert quantizing[-1].done == quantizing[-1].total == 272  # per-tensor progress from llama.cpp
    assert _hidden(f16.parent) == []

    import llama_cpp

    llm = llama_cpp.Llama(str(out), n_ctx=256, n_threads=2, verbose=False)
    try:
        result = llm.create_chat_completion(
            [{"role": "user", "content": "Say hello."}], max_tokens=12, temperature=0
        )
    finally:
        llm.close()
    text = result["choices"][0]["message"]["content"] or ""  # type: ignore[index]
    assert text.strip(), "the quantized model produced no text"


def test_cancel_kills_the_child_and_leaves_no_file(f16: Path) -> None:
    cancel = threading.Event()

    def stop_at_first_tensor(p: QuantizeProgress) -> None:
        if p.stage == "quantizing" and p.done >= 1:
            cancel.set()

    target = f16.parent / "cancelled.Q4_K_M.gguf"
    assert quantize(f16, "Q4_K_M", target, progress=stop_at_first_tensor, cancel=cancel) is None
    assert not target.exists()
    assert _hidden(f16.parent) == []


def test_requantizing_needs_consent_and_says_it_loses_quality(
    smollm2_path: Path, tmp_path: Path
) -> None:
    with pytest.raises(InvalidRequestError, match="already quantized .Q4_1.*loses more quality"):
        quantize(smollm2_path, "Q4_0", tmp_path / "x.gguf")
    assert list(tmp_path.iterdir()) == []


def test_bundled_model_variants_go_to_the_models_folder(smollm2_path: Path, tmp_path: Path) -> None:
    # the bundled file lives inside the installation: the new variant goes to the models folder
    assert default_output(smollm2_path, "Q8_0", tmp_path) == tmp_path / f"{BASE}.Q8_0.gguf"
    inside = tmp_path / "sub" / "gemma-3-270m-q4_k_m.gguf"
    assert default_output(inside, "Q8_0", tmp_path) == tmp_path / "sub" / "gemma-3-270m.Q8_0.gguf"
    assert base_name("all-MiniLM-L6-v2.F32") == "all-MiniLM-L6-v2"


def test_bad_requests_are_refused_before_any_work(f16: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidRequestError, match="Unknown quantization 'Q9_9'"):
        quantize(f16, "Q9_9")
    with pytest.raises(InvalidRequestError, match="already F16"):
        quantize(f16, "F16")
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a model at all" * 10)
    with pytest.raises(ModelFileError, match="not a GGUF model file"):
        quantize(junk, "Q8_0")
    existing = tmp_path / "exists.gguf"
    existing.write_bytes(b"x")
    with pytest.raises(InvalidRequestError, match="already exists"):
        quantize(f16, "Q8_0", existing)


def test_llama_cpp_failure_is_a_typed_error_and_leaves_no_file(f16: Path, tmp_path: Path) -> None:
    # A valid GGUF header naming an architecture llama.cpp does not know (its fields renamed
    # with it, so Hearth's own header checks pass): llama.cpp refuses.
    bad = tmp_path / "bad.F16.gguf"
    data = bytearray(f16.read_bytes())
    key = b"general.architecture"
    at = data.index(key) + len(key) + 4 + 8  # value type (u32) and string length (u64)
    assert bytes(data[at : at + 5]) == b"llama"
    data[at : at + 5] = b"zlama"
    end = read_header(f16).data_offset
    data[:end] = data[:end].replace(b"\x00llama.", b"\x00zlama.")  # after each key's length
    bad.write_bytes(bytes(data))
    with pytest.raises(ConversionError, match="Quantizing bad.F16.gguf to Q8_0 failed") as err:
        quantize(bad, "Q8_0")
    assert "zlama" in err.value.details
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.F16.gguf"]
