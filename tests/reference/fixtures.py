"""Session fixtures shared by converter tests (import them into a test module to use them)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from reference.gguf_to_hf import gguf_to_hf

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".cache" / "convert-fixtures"
README = "---\nlicense: apache-2.0\n---\n\n# SmolLM2-135M-Instruct\n\nRebuilt for a test.\n"


@pytest.fixture(scope="session", name="smollm2_hf_checkpoint")
def smollm2_hf_checkpoint_fixture(smollm2_path: Path) -> Path:
    """An HF checkpoint rebuilt from the bundled GGUF, made once and cached under .cache/."""
    st = smollm2_path.stat()
    target = CACHE / f"smollm2-hf-{st.st_size}"
    if (target / "COMPLETE").is_file():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    work = CACHE / f".building-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    gguf_to_hf(smollm2_path, work)
    (work / "README.md").write_text(README)
    (work / "COMPLETE").write_text("ok\n")
    shutil.rmtree(target, ignore_errors=True)
    work.rename(target)
    return target
