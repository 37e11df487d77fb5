"""The sentences the model pages show (ui/model_wording.py: plain functions, no window)."""

from __future__ import annotations

from engine.hub import HubFile, HubVariant, RepoFiles
from engine.memory import MemoryEstimate
from engine.model_inventory import ChoiceStatus, QuantChoice
from ui.model_wording import (
    backend_summary,
    choice_status,
    memory_breakdown,
    memory_summary,
    offload_text,
    repo_summary,
)


def test_backend_and_offload_texts() -> None:
    info = {
        "llama_cpp_python": "0.3.36",
        "gpu_offload": True,
        "system_info": "CUDA : ARCHS = 890 | USE_GRAPHS = 1 | CPU : SSE3 = 1 | AVX2 = 1 | FMA = 1",
    }
    assert backend_summary(info) == ("llama.cpp CUDA + CPU backend (AVX2, FMA) · build 0.3.36")
    assert offload_text(False, -1, 30) == "CPU only (this llama.cpp build has no GPU backend)"
    assert offload_text(True, 0, 30).startswith("CPU only (GPU layers is 0")
    assert offload_text(True, -1, 30) == "all 30 layers on the GPU"
    assert offload_text(True, 12, 30) == "12 of 30 layers on the GPU"
    assert offload_text(True, 99, 30) == "all 30 layers on the GPU"


def test_a_level_says_how_it_would_be_installed() -> None:
    def choice(status: ChoiceStatus, requantize: bool = False) -> QuantChoice:
        return QuantChoice(
            "Q4_K_M", status, 1, "m", "fits", 1, requantize=requantize, source_quant="Q8_0"
        )

    assert choice_status(choice("installed")) == "installed"
    assert choice_status(choice("download")) == "download"
    assert choice_status(choice("make")) == "make from Q8_0"
    assert choice_status(choice("make", requantize=True)) == "make from Q8_0 (re-quantize)"


def test_memory_sentences() -> None:
    summary = memory_summary(2 * 10**9, 8 * 10**9, 4096, 0)
    assert summary.startswith("Memory free now: ") and "context of 4,096 tokens" in summary
    assert "GPU" not in summary
    assert memory_summary(1, 2, 4096, -1).endswith(" All layers are set to run on the GPU.")
    assert memory_summary(1, 2, 4096, 12).endswith(" 12 layers are set to run on the GPU.")
    est = MemoryEstimate(100, 20, 30, 150, gpu_bytes=0)
    text = memory_breakdown(est, 2048, 10**9)
    assert "at 2,048 tokens\nfree now: " in text and "GPU" not in text
    assert "of it on the GPU" in memory_breakdown(MemoryEstimate(1, 1, 1, 3, gpu_bytes=5), 1, 1)


def test_a_repository_summary_counts_its_model_files() -> None:
    one = HubVariant("m-Q8_0", "Q8_0", [HubFile("m-Q8_0.gguf", 1)])
    split = HubVariant("m-F16", "F16", [HubFile("a", 1), HubFile("b", 1)], shards=2)
    assert repo_summary(RepoFiles("o/m", "r", [])) == "o/m has no GGUF model files."
    assert repo_summary(RepoFiles("o/m", "r", [one])) == "o/m: 1 GGUF model file."
    mmproj = [HubFile("mmproj-f16.gguf", 1)]
    assert repo_summary(RepoFiles("o/m", "r", [one, split], other_gguf=mmproj)) == (
        "o/m: 2 GGUF model files (split models are shown as one)."
        " Other GGUF files (not language models): mmproj-f16.gguf."
    )
